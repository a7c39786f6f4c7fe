import Foundation
import Synchronization

/// Starts child processes (`Subprocess`) from one thread that lives as long as this process, so
/// that a child started with `killedWithParent` (through util-linux `setpriv --pdeathsig KILL`)
/// dies when this process dies, however it dies (a crashed test run leaves no etcd behind). Linux
/// sends the parent-death signal when the *thread* that forked the child exits, which is why no
/// pool thread (they come and go) may do the spawning.
///
/// Children are started with posix_spawn, not Foundation's `Process`, whose `run()` once crashed
/// (SIGSEGV in a `memcpy`) on this thread, and which leaves descriptors that other threads open
/// while it scans for them open in the child.
public final class ProcessSpawner: Sendable {
    public static let shared = ProcessSpawner()

    private struct Request: Sendable {
        let process: Subprocess
        let wrapper: [String]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let queue = Mutex<[Request]>([])
    private let wake = DispatchSemaphore(value: 0)

    private init() {
        let thread = Thread { [self] in
            while true {
                wake.wait()
                guard let request = queue.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
                do {
                    try request.process.start(wrapper: request.wrapper)
                    request.continuation.resume()
                } catch {
                    request.continuation.resume(throwing: error)
                }
            }
        }
        thread.name = "capstan-spawner"
        thread.start()
    }

    /// Starts `process` on the spawner thread; `killedWithParent` makes it die with this process
    /// (when `/usr/bin/setpriv` exists; it execs the program, so the pid is the program's own).
    public func spawn(_ process: Subprocess, killedWithParent: Bool) async throws {
        let wrapper = killedWithParent && FileManager.default.isExecutableFile(atPath: Self.setpriv)
            ? [Self.setpriv, "--pdeathsig", "KILL", "--"] : []
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.withLock { $0.append(Request(process: process, wrapper: wrapper, continuation: continuation)) }
            wake.signal()
        }
    }

    static let setpriv = "/usr/bin/setpriv"
}
