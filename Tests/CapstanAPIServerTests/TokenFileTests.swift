@testable import CapstanAPIServer
import CapstanAPIServerHost
import Testing

/// The daemons' `--token-file` and the `authorization` header as RFC 6750 allows it.
@Suite("Bearer tokens")
struct TokenFileTests {
    @Test("a token file: TOKEN,NAME[,read-only] per line, comments and blank lines skipped")
    func parses() throws {
        let tokens = try TokenAuthenticator.tokens(fromFile: """
            # who may call
            s3cret, admin

              v1ew ,viewer, read-only\r
            """)
        #expect(tokens == [
            "s3cret": Identity(name: "admin", access: .readWrite), "v1ew": Identity(name: "viewer", access: .readOnly),
        ])
    }

    @Test("a token file with Windows line endings reads as lines")
    func crlf() throws {
        let tokens = try TokenAuthenticator.tokens(fromFile: "# who\r\nadmin-token,admin\r\nviewer-token,viewer,read-only\r\n")
        #expect(tokens == [
            "admin-token": Identity(name: "admin", access: .readWrite),
            "viewer-token": Identity(name: "viewer", access: .readOnly),
        ])
    }

    @Test("a bad token file names the line and what is wrong", arguments: [
        ("a,b\nonly-a-token\n", "line 2: expected TOKEN,NAME"),
        ("a,b,c,d", "line 1: expected TOKEN,NAME"),
        (",admin", "line 1: the token must be one word"),
        ("two words,admin", "line 1: the token must be one word"),
        ("a,", "line 1: the name must not be empty"),
        ("a,admin,admin", "line 1: the third column may only be read-only"),
        ("a,admin\n# again\na,other", "line 3: this token was given before (for admin)"),
    ])
    func refuses(text: String, expected: String) {
        do {
            _ = try TokenAuthenticator.tokens(fromFile: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test("Bearer in any case, then one or more spaces or tabs, then the token; trailing blanks are allowed")
    func headers() throws {
        let authenticator = TokenAuthenticator(tokens: ["tok": Identity(name: "admin", access: .readWrite)])
        for header in ["Bearer tok", "bearer tok", "Bearer  tok", "Bearer\ttok", "Bearer tok ", " Bearer tok"] {
            #expect((try? authenticator.authenticate(header))?.name == "admin", "\(header.debugDescription)")
        }
        for header in ["Bearer", "Bearer tok extra", "Basic tok", "Bearertok", "Bearer other"] {
            #expect((try? authenticator.authenticate(header)) == nil, "\(header.debugDescription)")
        }
    }

    @Test("a token is found only by an exact match, among several, whatever its length")
    func exactMatch() throws {
        let authenticator = TokenAuthenticator(tokens: [
            "token-a": Identity(name: "a", access: .readWrite), "token-ab": Identity(name: "ab", access: .readOnly),
            "t": Identity(name: "short", access: .readWrite),
        ])
        #expect(try authenticator.authenticate("Bearer token-a").name == "a")
        #expect(try authenticator.authenticate("Bearer token-ab").name == "ab")
        #expect(try authenticator.authenticate("Bearer t").name == "short")
        for wrong in ["token-", "token-abc", "token-b", "T", "tt", "token-a\u{0}"] {
            #expect((try? authenticator.authenticate("Bearer \(wrong)")) == nil, "\(wrong)")
        }
        #expect(TokenAuthenticator.equalInConstantTime([], []))
        #expect(!TokenAuthenticator.equalInConstantTime([1], []))
        #expect(!TokenAuthenticator.equalInConstantTime([1, 2], [1, 3]))
    }

    @Test("loopback listen addresses (no warning without a token file) and others")
    func loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "::1"] { #expect(isLoopbackAddress(host), "\(host)") }
        for host in ["0.0.0.0", "10.0.0.1", "127.example.com", "127.0.0", "::", "example.com"] {
            #expect(!isLoopbackAddress(host), "\(host)")
        }
    }
}
