/// The request head of a plain HTTP/1.x request, as far as the metrics endpoint needs it, and
/// the response it gets. Pure: tested without sockets.
struct PlainHTTPRequest: Sendable, Hashable {
    var method: String
    /// The path without its query.
    var path: String

    /// What the bytes read so far amount to.
    enum Parse: Sendable, Hashable {
        /// The head is not complete yet; read more (the caller bounds how much).
        case incomplete
        case request(PlainHTTPRequest)
        /// A malformed head: answer 400 with this reason.
        case malformed(String)
    }

    /// Parses the head once it ends with an empty line (`\r\n\r\n`, or bare `\n\n`).
    static func parse(_ bytes: some Collection<UInt8>) -> Parse {
        let data = Array(bytes)
        guard let end = headEnd(data) else { return .incomplete }
        guard let lineEnd = data[..<end].firstIndex(of: UInt8(ascii: "\n")) else { return .malformed("no request line") }
        var line = data[..<lineEnd]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard line.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
            return .malformed("the request line holds a control or non-ASCII byte")
        }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .malformed("the request line must be METHOD TARGET HTTP/1.x")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else {
            return .malformed("unsupported protocol '\(version)': expected HTTP/1.1 or HTTP/1.0")
        }
        let target = String(decoding: parts[1], as: UTF8.self)
        guard target.hasPrefix("/") else { return .malformed("the target must be a path starting with '/'") }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return .request(PlainHTTPRequest(method: String(decoding: parts[0], as: UTF8.self), path: String(path)))
    }

    /// The index just past the empty line ending the head, if present.
    private static func headEnd(_ data: [UInt8]) -> Int? {
        var index = 0
        while index < data.count {
            if data[index] == UInt8(ascii: "\n") {
                if index + 1 < data.count, data[index + 1] == UInt8(ascii: "\n") { return index + 2 }
                if index + 2 < data.count, data[index + 1] == UInt8(ascii: "\r"), data[index + 2] == UInt8(ascii: "\n") {
                    return index + 3
                }
            }
            index += 1
        }
        return nil
    }
}

/// A complete HTTP/1.1 response; the connection closes after it.
struct PlainHTTPResponse: Sendable, Hashable {
    var status: Int
    var reason: String
    var headers: [(String, String)]
    var body: [UInt8]
    /// For `HEAD`: headers (with the body's length) but no body.
    var omitBody = false

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.reason == rhs.reason && lhs.body == rhs.body && lhs.omitBody == rhs.omitBody
            && lhs.headers.elementsEqual(rhs.headers, by: ==)
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(status)
        hasher.combine(body)
    }

    static func text(_ status: Int, _ reason: String, _ message: String, headers: [(String, String)] = []) -> Self {
        PlainHTTPResponse(
            status: status, reason: reason, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers,
            body: Array((message + "\n").utf8))
    }

    var serialized: [UInt8] {
        var head = "HTTP/1.1 \(status) \(reason)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (omitBody ? [] : body)
    }
}

/// What the metrics endpoint answers: `GET`/`HEAD /metrics` the exposition text; any other path
/// 404; any other method 405 (with `Allow`); a malformed head 400; an oversized one 431.
enum MetricsRoute {
    static func respond(
        to parse: PlainHTTPRequest.Parse, headTooLarge: Bool, contentType: String, render: () -> String
    ) -> PlainHTTPResponse? {
        if headTooLarge {
            return .text(431, "Request Header Fields Too Large", "the request head exceeds the endpoint's limit")
        }
        switch parse {
        case .incomplete:
            return nil
        case .malformed(let reason):
            return .text(400, "Bad Request", reason)
        case .request(let request):
            guard request.path == "/metrics" else {
                return .text(404, "Not Found", "no such path '\(request.path)': metrics are served at /metrics")
            }
            guard request.method == "GET" || request.method == "HEAD" else {
                return .text(405, "Method Not Allowed", "\(request.method) is not allowed: use GET", headers: [("Allow", "GET, HEAD")])
            }
            return PlainHTTPResponse(
                status: 200, reason: "OK", headers: [("Content-Type", contentType)], body: Array(render().utf8),
                omitBody: request.method == "HEAD")
        }
    }
}
