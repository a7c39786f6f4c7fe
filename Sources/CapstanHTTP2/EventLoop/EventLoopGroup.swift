import Glibc
import Synchronization

/// A fixed set of event loops, one thread each, handed out round robin.
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let cursor = Atomic<Int>(0)
    private let shutDown = Atomic<Bool>(false)

    /// The number of online processors.
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Starts `threads` loops (default: one per core), each telling `stallReport` of its turns
    /// that kept it from its sockets too long.
    public init(
        threads: Int = EventLoopGroup.coreCount, name: String = "capstan-loop", stallReport: StallReport? = nil
    ) throws(HTTP2TransportError) {
        precondition(threads > 0, "an EventLoopGroup needs at least one thread")
        var loops: [EventLoop] = []
        for index in 0..<threads {
            do {
                loops.append(try EventLoop(name: "\(name)-\(index)", stallReport: stallReport))
            } catch {
                // Stop what started before reporting the failure.
                for loop in loops {
                    Task { [loop] in await loop.shutdown() }
                }
                throw error
            }
        }
        self.loops = loops
    }

    /// The next loop, round robin.
    public func next() -> EventLoop {
        let index = cursor.add(1, ordering: .relaxed).oldValue
        return loops[index % loops.count]
    }

    /// Stops every loop (after the work already queued) and joins their threads. Shut transports
    /// down first: registrations still open are closed without ceremony. Idempotent.
    public func shutdown() async {
        guard !shutDown.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops { await loop.shutdown() }
    }
}
