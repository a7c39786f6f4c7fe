import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import CapstanWire
import Synchronization
import Testing

/// One suite of call behaviours, run over every transport: what a handler and a caller see must
/// not depend on whether the bytes travel in memory or over loopback HTTP/2 (STYLE.md: one
/// conformance suite per interface).
@Suite struct TransportConformanceTests {
    enum Transport: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case inProcess = "in-process"
        case http2 = "HTTP/2"
        var testDescription: String { rawValue }
    }

    @Test(arguments: Transport.allCases)
    func allFourCallKinds(_ transport: Transport) async throws {
        try await withTransport(transport) { client in
            let pods = Pods.Client(client)
            var pod = Pod()
            pod.metadata.name = "web"
            #expect(try await pods.create(pod).metadata.name == "web")

            var names: [String] = []
            for try await event in try await pods.watch(WatchRequest()) { names.append(event.object.metadata.name) }
            #expect(names == ["a", "b", "c"])

            let upload = try await Conformance.Client(client).collect()
            for name in ["x", "y", "z"] {
                var meta = ObjectMeta()
                meta.name = name
                try await upload.send(meta)
            }
            #expect(try await upload.finish().name == "x,y,z")

            let chat = try await Conformance.Client(client).chat()
            var answers: [String] = []
            for name in ["1", "2"] {
                var meta = ObjectMeta()
                meta.name = name
                try await chat.send(meta)
            }
            chat.closeSend()
            for try await answer in chat.responses { answers.append(answer.name) }
            #expect(answers == ["echo 1", "echo 2"])
        }
    }

    @Test(arguments: Transport.allCases)
    func metadataBothWays(_ transport: Transport) async throws {
        try await withTransport(transport) { client in
            var options = CallOptions.default
            try options.metadata.add("x-ascii", "hello")
            try options.metadata.add("x-blob-bin", binary: [0, 1, 2, 255])
            var get = GetRequest()
            get.name = "metadata"
            let pod = try await Pods.Client(client).get(get, options: options)
            #expect(pod.metadata.labels["x-ascii"] == "hello")
            #expect(pod.metadata.labels["x-blob-bin"] == "0,1,2,255")
        }
    }

    @Test(arguments: Transport.allCases)
    func errorsCarryCodeMessageAndDetails(_ transport: Transport) async throws {
        try await withTransport(transport) { client in
            var get = GetRequest()
            get.name = "missing"
            let error = await #expect(throws: RPCError.self) { try await Pods.Client(client).get(get) }
            #expect(error?.code == .notFound)
            #expect(error?.message == "pod default/missing: not found ☹")
            #expect(error?.details == [1, 2, 3])
            let unknown = await #expect(throws: RPCError.self) { try await Minions.Client(client).get(GetRequest()) }
            #expect(unknown?.code == .unimplemented)
        }
    }

    @Test(arguments: Transport.allCases)
    func deadlineEndsTheCallAndCancelsTheHandler(_ transport: Transport) async throws {
        let started = Flag()
        let cancelled = Flag()
        try await withTransport(transport, started: started, cancelled: cancelled) { client in
            var get = GetRequest()
            get.name = "hang"
            var options = CallOptions.default
            options.timeout = .seconds(2)
            let error = await #expect(throws: RPCError.self) { try await Pods.Client(client).get(get, options: options) }
            #expect(error?.code == .deadlineExceeded)
            // A busy machine may let the deadline pass before the handler starts; a handler that
            // did start must be cancelled.
            if started.isSet { #expect(await eventually { cancelled.isSet }) }
        }
    }

    @Test(arguments: Transport.allCases)
    func largeMessagesAndManyConcurrentCalls(_ transport: Transport) async throws {
        try await withTransport(transport) { client in
            let pods = Pods.Client(client)
            var big = Pod()
            big.metadata.name = "big"
            big.metadata.annotations["blob"] = String(repeating: "x", count: 3 << 20)
            #expect(try await pods.create(big) == big)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<300 {
                    group.addTask {
                        var pod = Pod()
                        pod.metadata.name = "pod-\(index)"
                        let created = try await pods.create(pod)
                        #expect(created.metadata.name == "pod-\(index)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// A test-only service for the calls `Pods` has no shape for.
enum Conformance {
    static let collect = MethodDescriptor<ObjectMeta, ObjectMeta>(service: "capstan.test.Conformance", method: "Collect", kind: .clientStreaming)
    static let chat = MethodDescriptor<ObjectMeta, ObjectMeta>(service: "capstan.test.Conformance", method: "Chat", kind: .bidirectional)

    struct Client {
        let rpc: RPCClient
        init(_ rpc: RPCClient) { self.rpc = rpc }
        func collect() async throws -> ClientStreamingCall<ObjectMeta, ObjectMeta> { try await rpc.clientStreaming(Conformance.collect, options: .default) }
        func chat() async throws -> BidirectionalCall<ObjectMeta, ObjectMeta> { try await rpc.bidirectional(Conformance.chat, options: .default) }
    }
}

/// Routes the suite's calls: Pods (unary echo, a hanging get, errors with details, a watch of
/// three objects, metadata reflected into labels) and the test-only streaming methods.
func conformanceRoutes(started: Flag, cancelled: Flag) -> RPCRouter {
    var router = RPCRouter()
    router.unary(Pods.Method.create) { pod, _ in pod }
    router.unary(Pods.Method.get) { request, context in
        switch request.name {
        case "hang":
            started.set()
            await withTaskCancellationHandler {
                try? await Task.sleep(for: .seconds(60))
            } onCancel: {
                cancelled.set()
            }
            throw CancellationError()
        case "metadata":
            var pod = Pod()
            for key in ["x-ascii", "x-blob-bin"] {
                switch context.metadata[key].first {
                case .string(let s)?: pod.metadata.labels[key] = s
                case .binary(let b)?: pod.metadata.labels[key] = b.map(String.init).joined(separator: ",")
                case nil: break
                }
            }
            return pod
        default:
            throw RPCError(code: .notFound, message: "pod default/\(request.name): not found ☹", details: [1, 2, 3])
        }
    }
    router.serverStreaming(Pods.Method.watch) { _, responses, _ in
        for name in ["a", "b", "c"] {
            var event = PodEvent()
            event.object.metadata.name = name
            try await responses.write(event)
        }
    }
    router.clientStreaming(Conformance.collect) { requests, _ in
        var names: [String] = []
        for try await meta in requests { names.append(meta.name) }
        var result = ObjectMeta()
        result.name = names.joined(separator: ",")
        return result
    }
    router.bidirectional(Conformance.chat) { requests, responses, _ in
        for try await meta in requests {
            var answer = ObjectMeta()
            answer.name = "echo " + meta.name
            try await responses.write(answer)
        }
    }
    return router
}

/// Serves `router` (by default `conformanceRoutes`) over `transport`, runs `body` with a client, then shuts down.
func withTransport(
    _ transport: TransportConformanceTests.Transport, started: Flag = Flag(), cancelled: Flag = Flag(),
    router: RPCRouter? = nil,
    _ body: @Sendable (RPCClient) async throws -> Void
) async throws {
    let server = RPCServer(router: router ?? conformanceRoutes(started: started, cancelled: cancelled))
    switch transport {
    case .inProcess:
        let pair = InProcessTransport()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve(on: pair.server) }
            defer { pair.server.beginGracefulShutdown() }
            try await body(RPCClient(transport: pair.client))
        }
    case .http2:
        let loops = try EventLoopGroup(threads: 2)
        let serverTransport = try HTTP2ServerTransport(host: "127.0.0.1", port: 0, group: loops)
        let clientTransport = try HTTP2ClientTransport(targets: ["127.0.0.1:\(serverTransport.localPort)"], group: loops)
        let outcome: Result<Void, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await server.serve(on: serverTransport) }
            let outcome: Result<Void, any Error>
            do {
                try await body(RPCClient(transport: clientTransport))
                outcome = .success(())
            } catch {
                outcome = .failure(error)
            }
            await clientTransport.close()
            serverTransport.beginGracefulShutdown()
            await group.waitForAll()
            return outcome
        }
        await loops.shutdown()
        try outcome.get()
    }
}

/// A thread-safe flag.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Polls `condition` every 5 ms for at most `timeout`.
func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}
