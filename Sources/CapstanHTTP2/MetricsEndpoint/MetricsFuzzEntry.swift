/// The metrics endpoint's request reading for the fuzz target (`Fuzz/`): its bytes come from
/// the network, unauthenticated.
public enum MetricsFuzzEntry {
    /// Reads `input` as a request head and routes it. Checks: every prefix reads as incomplete or
    /// exactly as the whole does (bytes past the head change nothing); a complete head always
    /// gets an answer, one of the endpoint's statuses, whose `Content-Length` is its body's size.
    public static func check(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        let whole = PlainHTTPRequest.parse(bytes)
        for cut in Set([0, bytes.count / 3, bytes.count / 2, max(0, bytes.count - 1)]) {
            let part = PlainHTTPRequest.parse(bytes[..<cut])
            precondition(
                part == .incomplete || part == whole,
                "a prefix of \(cut) bytes reads as \(part), the whole as \(whole)")
        }
        for headTooLarge in [false, true] {
            let answer = MetricsRoute.respond(to: whole, headTooLarge: headTooLarge, contentType: "text/plain") {
                "up 1\n"
            }
            guard let answer else {
                precondition(whole == .incomplete && !headTooLarge, "a complete or oversized head got no answer")
                continue
            }
            precondition([200, 400, 404, 405, 431].contains(answer.status), "status \(answer.status)")
            let bytes = answer.serialized
            let blankLine: [UInt8] = [13, 10, 13, 10]
            let end = bytes.indices.dropLast(3).first { bytes[$0..<$0 + 4].elementsEqual(blankLine) } ?? bytes.count
            let head = String(decoding: bytes[..<end], as: UTF8.self)
            let length = "\r\nContent-Length: \(answer.body.count)\r\n"
            precondition(head.contains(length), "wrong Content-Length in \(head)")
        }
    }
}
