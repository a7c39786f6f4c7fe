public import Foundation
import Synchronization
import Glibc

/// What a child's standard input, output or error can be connected to: a `FileHandle` (its
/// descriptor is duplicated; `FileHandle.nullDevice` means `/dev/null`) or a `Pipe` (the child
/// gets one end; the parent's copy of that end is closed once the child runs).
public protocol StandardStream: Sendable {}

extension FileHandle: StandardStream {}
extension Pipe: StandardStream {}

/// A child process, configured like Foundation's `Process` (the same property names) and started
/// by `ProcessSpawner.spawn(_:killedWithParent:)`, which does not use Foundation's `Process`: it
/// calls posix_spawn directly, closes every descriptor but 0, 1 and 2 in the child, and reaps the
/// child with waitpid on a thread of its own.
///
/// A standard stream left nil is `/dev/null` (as with `Process`). The child runs in a new process
/// group, with no signal blocked and every signal's action the default.
public final class Subprocess: Sendable {
    /// How the child ended.
    public enum TerminationReason: Sendable {
        case exit
        case uncaughtSignal
    }

    private struct Configuration {
        var executableURL: URL?
        var arguments: [String] = []
        var environment: [String: String]?
        var standardInput: (any StandardStream)?
        var standardOutput: (any StandardStream)?
        var standardError: (any StandardStream)?
        var terminationHandler: (@Sendable (Subprocess) -> Void)?
    }

    private enum Phase {
        case configuring
        case running(pid_t)
        case ended(pid_t, ChildExit)
    }

    private let configuration = Mutex(Configuration())
    private let phase = Mutex(Phase.configuring)
    private let waiters = Mutex(ExitWaiters())
    /// Entered when the child starts, left when it has been reaped.
    private let exited = DispatchGroup()

    public init() {}

    /// The program to run.
    public var executableURL: URL? {
        get { configuration.withLock { $0.executableURL } }
        set { configuration.withLock { $0.executableURL = newValue } }
    }

    /// Its arguments (without the program itself).
    public var arguments: [String] {
        get { configuration.withLock { $0.arguments } }
        set { configuration.withLock { $0.arguments = newValue } }
    }

    /// Its whole environment; nil: this process's.
    public var environment: [String: String]? {
        get { configuration.withLock { $0.environment } }
        set { configuration.withLock { $0.environment = newValue } }
    }

    public var standardInput: (any StandardStream)? {
        get { configuration.withLock { $0.standardInput } }
        set { configuration.withLock { $0.standardInput = newValue } }
    }

    public var standardOutput: (any StandardStream)? {
        get { configuration.withLock { $0.standardOutput } }
        set { configuration.withLock { $0.standardOutput = newValue } }
    }

    public var standardError: (any StandardStream)? {
        get { configuration.withLock { $0.standardError } }
        set { configuration.withLock { $0.standardError = newValue } }
    }

    /// Called once, on the thread that reaped the child, after `isRunning` has become false.
    public var terminationHandler: (@Sendable (Subprocess) -> Void)? {
        get { configuration.withLock { $0.terminationHandler } }
        set { configuration.withLock { $0.terminationHandler = newValue } }
    }

    /// The child's pid once started (0 before). It stays valid (not reused) until the child has
    /// been reaped, that is while `isRunning`.
    public var processIdentifier: Int32 {
        phase.withLock {
            switch $0 {
            case .configuring: 0
            case .running(let pid), .ended(let pid, _): pid
            }
        }
    }

    /// Whether the child was started and has not been reaped yet.
    public var isRunning: Bool {
        phase.withLock { if case .running = $0 { true } else { false } }
    }

    /// The exit code, or the number of the signal that ended it. Only once it has ended.
    public var terminationStatus: Int32 {
        switch ended {
        case .exited(let code), .signalled(let code): code
        case .unknown: -1
        }
    }

    /// Whether it exited or a signal ended it. Only once it has ended.
    public var terminationReason: TerminationReason {
        if case .signalled = ended { .uncaughtSignal } else { .exit }
    }

    private var ended: ChildExit {
        phase.withLock {
            guard case .ended(_, let exit) = $0 else { preconditionFailure("the process has not ended") }
            return exit
        }
    }

    /// Sends SIGTERM while it runs.
    public func terminate() {
        signal(SIGTERM)
    }

    /// Sends `signal` while it runs (never to a reaped child's pid, which may have been reused).
    public func signal(_ signal: Int32) {
        phase.withLock { if case .running(let pid) = $0 { _ = kill(pid, signal) } }
    }

    /// Blocks the calling thread until the child has ended (keep it off the cooperative pool).
    public func waitUntilExit() {
        precondition(processIdentifier != 0, "the process was not started")
        exited.wait()
    }

    /// Waits until the child has ended without blocking a thread (or until the task is cancelled).
    public func waitForExit() async {
        precondition(processIdentifier != 0, "the process was not started")
        let id = waiters.withLock { $0.newID() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if waiters.withLock({ $0.add(id, continuation) }) { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.cancel(id) }?.resume()
        }
    }

    /// Waits until the child has ended or `timeout` has passed, whichever comes first; true if it ended.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForExit() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return !isRunning
    }

    /// Starts the child on the calling thread; `wrapper` goes before the program (for `setpriv`).
    func start(wrapper: [String]) throws(SubprocessError) {
        let configuration = configuration.withLock { $0 }
        guard case .configuring = phase.withLock({ $0 }) else { throw SubprocessError("the process was already started") }
        guard let executable = configuration.executableURL?.path else { throw SubprocessError("no executableURL") }
        // Checked here too: behind a wrapper, a missing program would only make the wrapper fail.
        guard access(executable, X_OK) == 0 else {
            throw SubprocessError("cannot start \(executable): \(String(cString: strerror(errno)))")
        }
        let streams = [configuration.standardInput, configuration.standardOutput, configuration.standardError]
        let standard = streams.enumerated().map { index, stream in Self.childDescriptor(stream, reads: index == 0) }
        let command = wrapper + [executable] + configuration.arguments
        let environment = configuration.environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let pid: pid_t
        do {
            pid = try PosixSpawn.spawn(path: command[0], arguments: command, environment: environment, standard: standard)
        } catch {
            throw SubprocessError("cannot start \(executable): \(error.message)")
        }
        exited.enter()
        phase.withLock { $0 = .running(pid) }
        // The child has its end of each pipe now; the parent's copy would keep a reader from
        // ever seeing end-of-file (or a writer from seeing the reader go).
        for (index, stream) in streams.enumerated() {
            guard let pipe = stream as? Pipe else { continue }
            try? (index == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close()
        }
        let reaper = Thread { [self] in
            PosixSpawn.waitUntilEnded(pid)
            phase.withLock { $0 = .ended(pid, PosixSpawn.reap(pid)) }
            exited.leave()
            for waiter in waiters.withLock({ $0.end() }) { waiter.resume() }
            terminationHandler?(self)
        }
        reaper.name = "capstan-reaper-\(pid)"
        reaper.stackSize = 256 << 10
        reaper.start()
    }

    private static func childDescriptor(_ stream: (any StandardStream)?, reads: Bool) -> ChildDescriptor {
        switch stream {
        case let pipe as Pipe:
            .duplicate((reads ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor)
        case let handle as FileHandle where handle === FileHandle.nullDevice || handle.fileDescriptor < 0:
            .null
        case let handle as FileHandle:
            .duplicate(handle.fileDescriptor)
        default:
            .null
        }
    }
}

/// The tasks waiting in `Subprocess.waitForExit()`.
private struct ExitWaiters {
    private var ended = false
    private var lastID: UInt64 = 0
    private var waiting: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var cancelled: Set<UInt64> = []

    mutating func newID() -> UInt64 {
        lastID += 1
        return lastID
    }

    /// Adds a waiter; true if instead it is to be resumed at once (the child ended, or it was cancelled).
    mutating func add(_ id: UInt64, _ continuation: CheckedContinuation<Void, Never>) -> Bool {
        if ended || cancelled.remove(id) != nil { return true }
        waiting[id] = continuation
        return false
    }

    /// The waiter to resume now that it is cancelled (nil: it was not added yet, or is gone).
    mutating func cancel(_ id: UInt64) -> CheckedContinuation<Void, Never>? {
        if let continuation = waiting.removeValue(forKey: id) { return continuation }
        if !ended { cancelled.insert(id) }
        return nil
    }

    /// Every waiter, to resume now that the child has ended.
    mutating func end() -> [CheckedContinuation<Void, Never>] {
        ended = true
        defer { waiting.removeAll() }
        return Array(waiting.values)
    }
}

/// Why a `Subprocess` could not be started.
public struct SubprocessError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
