import Synchronization

/// Reads a transport's response parts for one call from whichever task asks, one at a time.
///
/// Safety of `@unchecked Sendable`: `iterator` is only touched inside `next()`, and the `busy`
/// flag (an atomic compare-exchange) admits a single `next()` at a time; a concurrent caller is
/// refused with `Busy` before touching it.
final class ClientResponseReader: @unchecked Sendable {
    /// Thrown to a second task reading while another one is.
    struct Busy: Error {}

    private var iterator: any AsyncIteratorProtocol<ClientResponsePart, any Error>
    private let busy = Atomic<Bool>(false)

    init(_ responses: any AsyncSequence<ClientResponsePart, any Error> & Sendable) {
        iterator = responses.makeAsyncIterator()
    }

    func next() async throws -> ClientResponsePart? {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw Busy()
        }
        defer { busy.store(false, ordering: .releasing) }
        return try await iterator.next()
    }
}
