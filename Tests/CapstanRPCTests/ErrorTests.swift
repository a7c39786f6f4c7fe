import CapstanRPC
import Synchronization
import Testing

@Suite("Errors reach the client", .timeLimit(.minutes(1)))
struct ErrorTests {
    static let fail = MethodDescriptor<Text, Text>(service: "capstan.test.Fail", method: "Validate", kind: .unary)
    static let opaque = MethodDescriptor<Text, Text>(service: "capstan.test.Fail", method: "Opaque", kind: .unary)

    static func routes(_ router: inout RPCRouter) {
        Echo.register(in: &router)
        router.unary(fail) { request, _ in
            throw RPCError(
                code: .invalidArgument,
                message: "metadata.name: must be a DNS-1123 label",
                details: [0x08, 0x03, 0x12, 0x01, 0x78],
                trailers: ["x-field": "metadata.name"]
            )
        }
        router.unary(opaque) { _, _ in
            struct DiskOnFire: Error {}
            throw DiskOnFire()
        }
        router.answer(
            path: "/capstan.v1.Minions/Update",
            with: RPCError(code: .unimplemented, message: "minions cannot be updated: delete and re-create")
        )
    }

    @Test("unknown service → UNIMPLEMENTED naming the service")
    func unknownService() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let missing = MethodDescriptor<Text, Text>(service: "capstan.test.Nope", method: "Get", kind: .unary)
            let error = await rpcError { _ = try await client.unary(missing, "x", options: .default) }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "unknown service capstan.test.Nope")
        }
    }

    @Test("unknown method of a known service → UNIMPLEMENTED naming both")
    func unknownMethod() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let missing = MethodDescriptor<Text, Text>(service: Echo.service, method: "Missing", kind: .serverStreaming)
            let call = try await client.serverStreaming(missing, "x", options: .default)
            let error = await rpcError { for try await _ in call {} }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "unknown method Missing in service capstan.test.Echo")
        }
    }

    @Test("a fixed answer for a path")
    func fixedAnswer() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let update = MethodDescriptor<Text, Text>(service: "capstan.v1.Minions", method: "Update", kind: .unary)
            let error = await rpcError { _ = try await client.unary(update, "x", options: .default) }
            #expect(error == RPCError(code: .unimplemented, message: "minions cannot be updated: delete and re-create"))
            let other = MethodDescriptor<Text, Text>(service: "capstan.v1.Minions", method: "Frob", kind: .unary)
            let otherError = await rpcError { _ = try await client.unary(other, "x", options: .default) }
            #expect(otherError?.message == "unknown method Frob in service capstan.v1.Minions")
        }
    }

    @Test("a handler's RPCError arrives with code, message, details and trailers")
    func handlerError() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let error = await rpcError { _ = try await client.unary(Self.fail, "x", options: .default) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "metadata.name: must be a DNS-1123 label")
            #expect(error?.details == [0x08, 0x03, 0x12, 0x01, 0x78])
            #expect(error?.trailers.first("x-field") == "metadata.name")
        }
    }

    @Test("any other error becomes UNKNOWN")
    func opaqueError() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let error = await rpcError { _ = try await client.unary(Self.opaque, "x", options: .default) }
            #expect(error?.code == .unknown)
        }
    }

    @Test("bad request bytes → INTERNAL naming the method and message type")
    func badRequestBytes() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let raw = MethodDescriptor<Blob, Text>(service: Echo.service, method: "Get", kind: .unary)
            let error = await rpcError { _ = try await client.unary(raw, Blob([0xFF, 0xFE]), options: .default) }
            #expect(error?.code == .internal)
            #expect(error?.message.contains("could not parse the request to /capstan.test.Echo/Get as capstan.test.Text") == true)
        }
    }

    @Test("a unary method given zero or two request messages → INTERNAL")
    func requestCount() async throws {
        try await withServer(routes: Self.routes) { client, _ in
            let streamingView = MethodDescriptor<Text, Text>(service: Echo.service, method: "Get", kind: .clientStreaming)
            let none = try await client.clientStreaming(streamingView, options: .default)
            let noneError = await rpcError { _ = try await none.finish() }
            #expect(noneError?.code == .internal)
            #expect(noneError?.message.contains("sent no request message") == true)

            let two = try await client.clientStreaming(streamingView, options: .default)
            try await two.send("a")
            try await two.send("b")
            let twoError = await rpcError { _ = try await two.finish() }
            #expect(twoError?.code == .internal)
            #expect(twoError?.message.contains("more than one request message") == true)
        }
    }

    @Test("an unparsable response → INTERNAL on the client")
    func badResponseBytes() async throws {
        try await withServer(routes: { router in
            router.unary(MethodDescriptor<Text, Blob>(service: "capstan.test.Raw", method: "Get", kind: .unary)) { _, _ in
                Blob([0xC3])
            }
        }) { client, _ in
            let view = MethodDescriptor<Text, Text>(service: "capstan.test.Raw", method: "Get", kind: .unary)
            let error = await rpcError { _ = try await client.unary(view, "x", options: .default) }
            #expect(error?.code == .internal)
            #expect(error?.message.contains("could not parse the response") == true)
        }
    }

    @Test("writing after the call ended throws")
    func writeAfterEnd() async throws {
        let leaked = LeakedStream()
        try await withServer(routes: { router in
            router.serverStreaming(Echo.expand) { _, responses, _ in leaked.keep(responses) }
        }) { client, _ in
            let call = try await client.serverStreaming(Echo.expand, "1", options: .default)
            for try await _ in call {}
            let error = await rpcError { try await leaked.stream?.write("late") }
            #expect(error?.code == .failedPrecondition)
        }
    }
}

/// Holds a response stream past its call, to write after the end.
final class LeakedStream: Sendable {
    private let value = Mutex<ResponseStream<Text>?>(nil)
    func keep(_ stream: ResponseStream<Text>) { value.withLock { $0 = stream } }
    var stream: ResponseStream<Text>? { value.withLock { $0 } }
}
