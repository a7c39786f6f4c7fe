@testable import CapstanHTTP2
import Testing

@Suite("The metrics endpoint's request parsing and routing")
struct PlainHTTPRequestTests {
    private func parse(_ text: String) -> PlainHTTPRequest.Parse {
        PlainHTTPRequest.parse(Array(text.utf8))
    }

    private func status(_ text: String, tooLarge: Bool = false) -> Int? {
        MetricsRoute.respond(to: parse(text), headTooLarge: tooLarge, contentType: "text/plain", render: { "m 1\n" })?.status
    }

    @Test("complete heads parse; partial ones wait for more")
    func parsing() {
        #expect(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n") == .request(PlainHTTPRequest(method: "GET", path: "/metrics")))
        #expect(parse("GET /metrics?name[]=x HTTP/1.0\n\n") == .request(PlainHTTPRequest(method: "GET", path: "/metrics")))
        #expect(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n") == .incomplete)
        #expect(parse("") == .incomplete)
        guard case .malformed = parse("GET /metrics\r\n\r\n") else { Issue.record("two-part request line"); return }
        guard case .malformed = parse("GET metrics HTTP/1.1\r\n\r\n") else { Issue.record("target without /"); return }
        guard case .malformed = parse("GET /metrics HTTP/2.0\r\n\r\n") else { Issue.record("HTTP/2.0"); return }
        guard case .malformed = parse("GET /m\u{1}x HTTP/1.1\r\n\r\n") else { Issue.record("control byte"); return }
    }

    @Test("routing: 200, 404, 405, 400, 431; HEAD has no body")
    func routing() throws {
        #expect(status("GET /metrics HTTP/1.1\r\n\r\n") == 200)
        #expect(status("GET / HTTP/1.1\r\n\r\n") == 404)
        #expect(status("DELETE /metrics HTTP/1.1\r\n\r\n") == 405)
        #expect(status("BREW\r\n\r\n") == 400)
        #expect(status("GET /metr", tooLarge: true) == 431)
        #expect(status("GET /metr") == nil)
        let head = try #require(MetricsRoute.respond(
            to: parse("HEAD /metrics HTTP/1.1\r\n\r\n"), headTooLarge: false, contentType: "text/plain", render: { "m 1\n" }))
        let serialized = String(decoding: head.serialized, as: UTF8.self)
        #expect(serialized == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n")
    }
}
