import CapstanRPC
import Synchronization

/// A client interceptor that records the response headers and trailers of the calls it opens,
/// for calls whose API does not expose them (a unary call returns only its response).
///
/// Put it last (innermost) so it sees what the transport delivers. Use one per call: a second
/// call's headers and trailers replace the first's.
final class ResponseMetadataRecorder: ClientInterceptor {
    private struct Recorded {
        var headers: Metadata?
        var trailers: Metadata?
    }

    private let recorded = Mutex(Recorded())

    /// The response headers, once they arrived (absent in a trailers-only response).
    var headers: Metadata? { recorded.withLock { $0.headers } }
    /// The trailers that came with the status, once it arrived.
    var trailers: Metadata? { recorded.withLock { $0.trailers } }

    func intercept(
        _ head: ClientRequestHead,
        next: @Sendable (ClientRequestHead) async throws -> ClientTransportStream
    ) async throws -> ClientTransportStream {
        var stream = try await next(head)
        stream.responses = RecordingResponses(base: stream.responses, recorder: self)
        return stream
    }

    fileprivate func record(_ part: ClientResponsePart) {
        switch part {
        case .headers(let headers):
            recorded.withLock { $0.headers = headers }
        case .status(_, _, let trailers):
            recorded.withLock { $0.trailers = trailers }
        case .message:
            break
        }
    }
}

/// A transport's response parts, passed through unchanged after the recorder saw them.
private struct RecordingResponses: AsyncSequence, Sendable {
    typealias Element = ClientResponsePart
    typealias Failure = any Error

    let base: any AsyncSequence<ClientResponsePart, any Error> & Sendable
    let recorder: ResponseMetadataRecorder

    struct AsyncIterator: AsyncIteratorProtocol {
        typealias Element = ClientResponsePart
        typealias Failure = any Error

        var base: any AsyncIteratorProtocol<ClientResponsePart, any Error>
        let recorder: ResponseMetadataRecorder

        mutating func next() async throws -> ClientResponsePart? {
            let part = try await base.next()
            if let part { recorder.record(part) }
            return part
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: base.makeAsyncIterator(), recorder: recorder)
    }
}
