import CapstanRPC

/// The gRPC protocol code as libFuzzer drives it (`Fuzz/Sources/FuzzGRPCFraming`). Public only so
/// the fuzz package can reach it; every check that fails traps, which is what the fuzzer reports.
public enum GRPCFuzzEntry {
    /// Deframes `input` in chunks and checks the outcome against deframing it in one piece.
    ///
    /// Layout: byte 0 picks the message size limit, byte 1 how many chunk-size bytes follow (0–7),
    /// those bytes are the chunk sizes (cycled; 0 means an empty chunk, then one byte), the rest is
    /// the DATA.
    /// Checks: the same messages and error either way; never more than one refusable prefix plus
    /// a message within the limit buffered; re-framing the messages deframes to the same ones.
    public static func deframe(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2 else { return }
        let limits = [0, 1, 5, 64, 4_096, 1 << 20]
        let limit = limits[Int(input[0]) % limits.count]
        let sizeCount = min(Int(input[1]) % 8, input.count - 2)
        let sizes = sizeCount == 0 ? [Int.max] : (2..<2 + sizeCount).map { Int(input[$0]) }
        let data = UnsafeRawBufferPointer(rebasing: input[(2 + sizeCount)...])

        var whole = GRPCDeframer(maxMessageSize: limit)
        whole.append(data)
        let expected = drain(&whole, limit: limit)

        var chunked = GRPCDeframer(maxMessageSize: limit)
        var outcome = Outcome()
        var offset = 0
        var chunkIndex = 0
        while offset < data.count, outcome.error == nil {
            let wanted = sizes[chunkIndex % sizes.count]
            if wanted == 0 { chunked.append(UnsafeRawBufferPointer(start: nil, count: 0)) }
            let size = min(max(wanted, 1), data.count - offset)
            chunked.append(UnsafeRawBufferPointer(rebasing: data[offset..<offset + size]))
            offset += size
            chunkIndex += 1
            let part = drain(&chunked, limit: limit)
            outcome.messages += part.messages
            outcome.error = part.error
        }
        outcome.finishError = finishError(chunked)
        let expectedWhole = Outcome(messages: expected.messages, error: expected.error, finishError: finishError(whole))
        precondition(outcome == expectedWhole, "chunked deframing differs: \(outcome) vs \(expectedWhole)")

        var reframed: [UInt8] = []
        for message in expected.messages { GRPCFraming.append(message, to: &reframed) }
        var again = GRPCDeframer(maxMessageSize: limit)
        reframed.withUnsafeBytes { again.append($0) }
        let second = drain(&again, limit: limit)
        precondition(second.messages == expected.messages && second.error == nil, "re-framed messages differ")
        precondition(again.bufferedByteCount == 0, "re-framed messages left bytes behind")
    }

    /// Parses `input` as a header block, one `name:value` field per line (the name may start with
    /// `:`), as request, response headers and trailers. Checks: a request accepted is accepted
    /// again, unchanged, when rebuilt by the client side; the timeout and status message codecs
    /// round-trip.
    public static func parseRequestHeaders(_ input: UnsafeRawBufferPointer) {
        let fields = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(field)
        _ = GRPCResponseHeaders.parseHeaders(fields)
        _ = GRPCResponseHeaders.parseTrailers(fields)

        let text = String(decoding: input, as: UTF8.self)
        precondition(GRPCStatusMessage.decode(GRPCStatusMessage.encode(text)) == text, "grpc-message round trip")
        _ = GRPCStatusMessage.decode(text)
        if let timeout = GRPCTimeout.parse(text) {
            let expected = max(timeout, .nanoseconds(1))
            precondition(GRPCTimeout.parse(GRPCTimeout.encode(timeout)) == expected, "grpc-timeout round trip")
        }

        guard case .success(let head) = GRPCRequestHeaders.parse(fields) else { return }
        let rebuilt = GRPCRequestHeaders.make(
            path: head.path, authority: head.authority ?? "", scheme: "http", timeout: head.timeout,
            metadata: head.metadata, userAgent: head.userAgent ?? "")
        guard case .success(let again) = GRPCRequestHeaders.parse(rebuilt) else {
            preconditionFailure("a rebuilt request was rejected: \(rebuilt)")
        }
        precondition(again.path == head.path && again.authority == head.authority ?? "", "path or authority changed")
        precondition(again.userAgent == head.userAgent ?? "" && again.metadata == head.metadata, "metadata changed")
        precondition(again.timeout == head.timeout.map { max($0, .nanoseconds(1)) }, "timeout changed")
    }

    /// What deframing produced.
    private struct Outcome: Equatable, CustomStringConvertible {
        var messages: [[UInt8]] = []
        var error: GRPCDeframingError?
        var finishError: GRPCDeframingError?

        var description: String { "\(messages.count) messages, error \(String(describing: error)), finish \(String(describing: finishError))" }
    }

    /// Every message available now, and the error that stopped it, if any.
    private static func drain(_ deframer: inout GRPCDeframer, limit: Int) -> Outcome {
        var outcome = Outcome()
        do {
            while let message = try deframer.next() {
                precondition(message.count <= limit, "a message over the limit was returned")
                outcome.messages.append(message)
            }
            // Whatever is left is an incomplete message whose prefix passed the checks.
            precondition(
                deframer.bufferedByteCount < GRPCFraming.prefixLength + limit,
                "buffered \(deframer.bufferedByteCount) bytes under a limit of \(limit)")
        } catch {
            outcome.error = error
            precondition(deframer.bufferedByteCount == 0, "a failed deframer kept bytes")
        }
        return outcome
    }

    private static func finishError(_ deframer: GRPCDeframer) -> GRPCDeframingError? {
        do {
            try deframer.finish()
            return nil
        } catch {
            return error
        }
    }

    /// One `name:value` line as a field; a line without a separator is a name with an empty value.
    private static func field(_ line: Slice<UnsafeRawBufferPointer>) -> HeaderField {
        let bytes = Array(line)
        let separator = bytes.indices.dropFirst().first { bytes[$0] == UInt8(ascii: ":") } ?? bytes.count
        let name = String(decoding: bytes[..<separator], as: UTF8.self)
        let value = separator < bytes.count ? String(decoding: bytes[(separator + 1)...], as: UTF8.self) : ""
        return HeaderField(name: name, value: value)
    }
}
