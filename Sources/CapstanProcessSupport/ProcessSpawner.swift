public import Foundation
import Synchronization

/// Starts child processes from one thread that lives as long as this process, so that a child
/// started with `killedWithParent` (through util-linux `setpriv --pdeathsig KILL`) dies when this
/// process dies, however it dies (a crashed test run leaves no etcd behind). Linux sends the
/// parent-death signal when the *thread* that forked the child exits, which is why no pool thread
/// (they come and go) may do the spawning. Every child process of the tests is started here:
/// Foundation's `Process.run()` is not safe to call from several threads at once on Linux (seen:
/// a crash in `memcpy` inside `run()` while other tests started processes).
public final class ProcessSpawner: Sendable {
    public static let shared = ProcessSpawner()

    private struct Request: @unchecked Sendable {
        // Safety: the Process is handed from the caller to the spawner thread and not touched by the
        // caller until the continuation resumes.
        let process: Process
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
                    try request.process.run()
                    request.continuation.resume()
                } catch {
                    request.continuation.resume(throwing: error)
                }
            }
        }
        thread.name = "capstan-etcd-spawner"
        thread.start()
    }

    /// Starts `process` on the spawner thread; `killedWithParent` makes it die with this process.
    public func spawn(_ process: Process, killedWithParent: Bool) async throws {
        if killedWithParent, let executable = process.executableURL, FileManager.default.isExecutableFile(atPath: Self.setpriv) {
            process.arguments = ["--pdeathsig", "KILL", "--", executable.path] + (process.arguments ?? [])
            process.executableURL = URL(fileURLWithPath: Self.setpriv)
        }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.withLock { $0.append(Request(process: process, continuation: continuation)) }
            wake.signal()
        }
    }

    static let setpriv = "/usr/bin/setpriv"
}
