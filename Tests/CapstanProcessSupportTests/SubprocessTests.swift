import CapstanProcessSupport
import CapstanTestSupport
import Foundation
import Glibc
import Testing

/// `Subprocess` started by `ProcessSpawner`: real children (coreutils, sh), their streams, exit
/// codes and signals, and that nothing of ours leaks into them.
@Suite struct SubprocessTests {
    /// Starts `executable` with `arguments`, waits (bounded) for it to end; returns its output.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil
    ) async throws -> (process: Subprocess, output: String) {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe()
        if input != nil { process.standardInput = stdin }
        process.standardOutput = stdout
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let output = try await bounded("\(executable) to end", seconds: 60) {
            let data = try await blocking { stdout.fileHandleForReading.readDataToEndOfFile() }
            try await blocking { process.waitUntilExit() }
            return String(decoding: data, as: UTF8.self)
        }
        return (process, output)
    }

    @Test func exitCodeAndOutputThroughAPipe() async throws {
        let (process, output) = try await Self.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 7"])
        // End-of-file arrived, so the parent's copy of the pipe's write end was closed.
        #expect(output == "out\n")
        #expect(!process.isRunning)
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 7)
    }

    @Test func standardInputFromAPipeAndNullByDefault() async throws {
        let echoed = try await Self.run("/bin/cat", [], input: "to the child\n")
        #expect(echoed.output == "to the child\n")
        #expect(echoed.process.terminationStatus == 0)
        // No standard input given: /dev/null, so `read` sees end-of-file at once.
        let empty = try await Self.run("/bin/sh", ["-c", "read line; echo \"status $? [$line]\""])
        #expect(empty.output == "status 1 []\n")
    }

    @Test func environmentIsExactlyTheOneGiven() async throws {
        let (process, output) = try await Self.run("/usr/bin/env", [], environment: ["CAPSTAN_A": "1 2", "CAPSTAN_B": ""])
        #expect(process.terminationStatus == 0)
        #expect(output.split(separator: "\n").sorted() == ["CAPSTAN_A=1 2", "CAPSTAN_B="])
        let inherited = try await Self.run("/usr/bin/env", [])
        #expect(inherited.output.contains("PATH="))
    }

    @Test func signalEndsItAsAnUncaughtSignal() async throws {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        let ended = Pipe()
        process.terminationHandler = { _ in try? ended.fileHandleForWriting.close() }
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        #expect(process.isRunning)
        // setpriv execs the program: the pid is sleep's own.
        let comm = try String(contentsOfFile: "/proc/\(process.processIdentifier)/comm", encoding: .utf8)
        #expect(comm == "sleep\n" || comm == "setpriv\n")
        process.terminate()
        try await bounded("sleep to end", seconds: 30) { try await blocking { process.waitUntilExit() } }
        #expect(!process.isRunning)
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(process.terminationStatus == SIGTERM)
        // The termination handler ran too.
        let handled = try await bounded("the termination handler", seconds: 30) {
            try await blocking { ended.fileHandleForReading.readDataToEndOfFile() }
        }
        #expect(handled.isEmpty)
        process.signal(SIGKILL)  // nothing: it has been reaped
    }

    @Test func waitingForTheExitAsynchronously() async throws {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { process.signal(SIGKILL) }
        // A cancelled wait returns while the child goes on.
        let cancelled = Task { await process.waitForExit() }
        cancelled.cancel()
        try await bounded("a cancelled wait", seconds: 30) { await cancelled.value }
        #expect(process.isRunning)
        let waiters = (0..<3).map { _ in Task { await process.waitForExit() } }
        process.signal(SIGKILL)
        try await bounded("the exit", seconds: 30) {
            for waiter in waiters { await waiter.value }
        }
        #expect(!process.isRunning)
        #expect(process.terminationReason == .uncaughtSignal)
        #expect(process.terminationStatus == SIGKILL)
        try await bounded("a wait after the exit", seconds: 30) { await process.waitForExit() }
    }

    @Test func aMissingProgramIsAClearError() async throws {
        for killedWithParent in [false, true] {
            let process = Subprocess()
            process.executableURL = URL(fileURLWithPath: "/nonexistent/capstan-no-such-program")
            let error = await #expect(throws: SubprocessError.self) {
                try await ProcessSpawner.shared.spawn(process, killedWithParent: killedWithParent)
            }
            #expect(
                error?.description == "cannot start /nonexistent/capstan-no-such-program: No such file or directory",
                "\(String(describing: error))")
            #expect(!process.isRunning)
        }
    }

    /// A descriptor we opened without close-on-exec, holding an flock, is not inherited: the
    /// child has 0, 1 and 2 only, and once we close ours the lock is free while the child runs.
    @Test func childrenInheritNoOtherDescriptor() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/LOCK"
            let descriptor = open(path, O_RDWR | O_CREAT, 0o644)
            try #require(descriptor >= 0)
            #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
            let process = Subprocess()
            process.executableURL = URL(fileURLWithPath: "/bin/sleep")
            process.arguments = ["60"]
            process.standardOutput = FileHandle.nullDevice
            try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
            defer { process.signal(SIGKILL) }
            let pid = process.processIdentifier
            // Until setpriv has exec'd sleep.
            #expect(await eventually { (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) == "sleep\n" })
            let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").sorted()
            #expect(descriptors == ["0", "1", "2"], "our descriptor was \(descriptor)")
            close(descriptor)
            let again = open(path, O_RDWR | O_CLOEXEC)
            defer { close(again) }
            // Not at once: a child that another test is starting right now holds a copy of every
            // descriptor of ours from its clone until it closes them, just before its exec (a
            // lock to be free at once must be released with LOCK_UN before the close). The
            // sleeping child would hold it for a minute.
            #expect(await eventually { flock(again, LOCK_EX | LOCK_NB) == 0 }, "the lock is still held")
            #expect(process.isRunning)
        }
    }

    @Test func manySpawnsAtOnce() async throws {
        let statuses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for index in 0..<24 {
                group.addTask {
                    try await Self.run("/bin/sh", ["-c", "exit \(index % 5)"]).process.terminationStatus
                }
            }
            return try await group.reduce(into: [Int32]()) { $0.append($1) }
        }
        #expect(statuses.sorted() == (0..<24).map { Int32($0 % 5) }.sorted())
    }
}

/// Runs `body`, which blocks, on a thread of its own, off the cooperative pool.
private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
