import CapstanInterop
import Testing

@Suite("InteropCommandLine")
struct InteropCommandLineTests {
    func parse(_ line: String) throws -> InteropCommandLine {
        try InteropCommandLine(parsing: line.split(separator: " ").map(String.init))
    }

    /// The parse error's message for `line`, or nil if it parses.
    func error(_ line: String) -> String? {
        do {
            _ = try parse(line)
            return nil
        } catch let error as InteropCommandLine.ParseError {
            return error.message
        } catch {
            return "unexpected error \(error)"
        }
    }

    @Test("server --port, in both flag forms, with --use_tls=false")
    func server() throws {
        let expected = InteropCommandLine(role: .server(.init(port: 8080)))
        #expect(try parse("server --port 8080") == expected)
        #expect(try parse("server --port=8080") == expected)
        #expect(try parse("server --use_tls=false --port=8080") == expected)
        #expect(try parse("server --port 8080 --use_tls false") == expected)
    }

    @Test("client with every flag, in mixed forms")
    func client() throws {
        let parsed = try parse(
            "client --server_host 127.0.0.1 --server_host_override=foo.test.google.fr --server_port=50051 --test_case large_unary --use_tls=false"
        )
        let expected = InteropCommandLine.Client(
            serverHost: "127.0.0.1", serverHostOverride: "foo.test.google.fr", serverPort: 50051, testCases: [.largeUnary]
        )
        #expect(parsed == InteropCommandLine(role: .client(expected)))
        #expect(expected.authorityHost == "foo.test.google.fr")
    }

    @Test("client defaults: host localhost, no override; 'all' runs every case in order")
    func clientDefaults() throws {
        let parsed = try parse("client --server_port 1 --test_case all")
        guard case .client(let client) = parsed.role else {
            Issue.record("parsed as \(parsed.role)")
            return
        }
        #expect(client.serverHost == "localhost")
        #expect(client.serverHostOverride == nil)
        #expect(client.authorityHost == "localhost")
        #expect(client.serverPort == 1)
        #expect(client.testCases == InteropTestCase.allCases)
    }

    @Test("TLS is refused with a clear message, however it is asked for")
    func tls() {
        let message = "TLS is not supported yet: run with --use_tls=false (plaintext)"
        #expect(error("server --port 1 --use_tls=true") == message)
        #expect(error("server --port 1 --use_tls") == message)
        #expect(error("client --server_port 1 --test_case all --use_tls TRUE") == message)
        #expect(error("server --port 1 --use_tls=maybe") == "--use_tls must be true or false, got 'maybe'")
    }

    @Test("malformed command lines are refused, saying what is wrong")
    func errors() {
        #expect(error("") == "no command: expected 'server' or 'client'")
        #expect(error("proxy --port 1") == "unknown command 'proxy': expected 'server' or 'client'")
        #expect(error("server") == "--port is required")
        #expect(error("server --port") == "--port needs a value")
        #expect(error("server --port --use_tls=false") == "--port needs a value")
        #expect(error("server --port 65536") == "--port must be a port number from 0 to 65535, got '65536'")
        #expect(error("client --server_port 0 --test_case all") == "--server_port must be a port number from 1 to 65535, got '0'")
        #expect(error("server --port=65536") == "--port must be a port number from 0 to 65535, got '65536'")
        #expect(error("server --port http") == "--port must be a port number from 1 to 65535, got 'http'")
        #expect(error("server --port 1 --port 2") == "--port is given more than once")
        #expect(error("server --port 1 8080") == "unexpected argument '8080': expected a flag such as --name=value")
        #expect(error("server --port 1 --test_case all") == "unknown flag --test_case for the server (it takes --port, --use_tls)")
        #expect(error("client --server_port 1") == "--test_case is required (a test case name or 'all')")
        #expect(error("client --test_case all") == "--server_port is required")
        #expect(error("client --server_port 1 --test_case all --server_host=") == "--server_host must not be empty")
        #expect(error("client --server_port 1 --test_case largeunary")?.hasPrefix(
            "unknown test case 'largeunary': expected 'all' or one of empty_unary, large_unary,") == true)
        #expect(error("client --server_port 1 --test_case all --port 2")?.hasPrefix("unknown flag --port for the client") == true)
    }

    @Test("usage names both commands and every test case")
    func usage() {
        #expect(InteropCommandLine.usage.contains("server --port N"))
        #expect(InteropCommandLine.usage.contains("client --server_port N --test_case NAME|all"))
        for testCase in InteropTestCase.allCases {
            #expect(InteropCommandLine.usage.contains(testCase.rawValue))
        }
    }
}
