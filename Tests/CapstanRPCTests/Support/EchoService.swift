import CapstanRPC

/// A small service with one method of each kind.
enum Echo {
    static let service = "capstan.test.Echo"
    /// Unary: answers "echo: <text>".
    static let get = MethodDescriptor<Text, Text>(service: service, method: "Get", kind: .unary)
    /// Server streaming: the request is a count n; answers "0" … "n-1".
    static let expand = MethodDescriptor<Text, Text>(service: service, method: "Expand", kind: .serverStreaming)
    /// Client streaming: answers the requests joined with ",".
    static let collect = MethodDescriptor<Text, Text>(service: service, method: "Collect", kind: .clientStreaming)
    /// Bidirectional: answers each request with "echo: <text>".
    static let chat = MethodDescriptor<Text, Text>(service: service, method: "Chat", kind: .bidirectional)

    static func register(in router: inout RPCRouter) {
        router.unary(get) { request, _ in Text("echo: \(request.value)") }
        router.serverStreaming(expand) { request, responses, _ in
            let count = Int(request.value) ?? 0
            for index in 0..<count { try await responses.write(Text("\(index)")) }
        }
        router.clientStreaming(collect) { requests, _ in
            var parts: [String] = []
            for try await request in requests { parts.append(request.value) }
            return Text(parts.joined(separator: ","))
        }
        router.bidirectional(chat) { requests, responses, _ in
            for try await request in requests { try await responses.write(Text("echo: \(request.value)")) }
        }
    }
}
