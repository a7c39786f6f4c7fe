import CapstanWire

/// Adapters from typed handlers to the router's byte-level `Handler`.
extension RPCRouter {
    static func unaryHandler<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) -> Handler {
        let path = m.path
        return { requests, call, context in
            let request = try await singleRequest(Req.self, from: requests, call: call, path: path, kind: .unary)
            let response = try await handler(request, context)
            try await call.writeMessage(response.serializedBytes())
        }
    }

    static func serverStreamingHandler<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (Req, ResponseStream<Res>, ServerContext) async throws -> Void
    ) -> Handler {
        let path = m.path
        return { requests, call, context in
            let request = try await singleRequest(Req.self, from: requests, call: call, path: path, kind: .serverStreaming)
            try await handler(request, ResponseStream(call: call), context)
        }
    }

    static func clientStreamingHandler<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (RequestStream<Req>, ServerContext) async throws -> Res
    ) -> Handler {
        let path = m.path
        return { requests, call, context in
            let response = try await handler(RequestStream(raw: requests, call: call, path: path), context)
            try await call.writeMessage(response.serializedBytes())
        }
    }

    static func bidirectionalHandler<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: @escaping @Sendable (RequestStream<Req>, ResponseStream<Res>, ServerContext) async throws -> Void
    ) -> Handler {
        let path = m.path
        return { requests, call, context in
            try await handler(RequestStream(raw: requests, call: call, path: path), ResponseStream(call: call), context)
        }
    }

    /// Reads the one request message of a unary or server-streaming call, up to the client's
    /// half-close; zero or several messages are an `INTERNAL` error, as in gRPC.
    static func singleRequest<Req: WireMessage>(
        _ type: Req.Type,
        from requests: any AsyncSequence<[UInt8], any Error> & Sendable,
        call: ServerCall,
        path: String,
        kind: StreamingKind
    ) async throws -> Req {
        var iterator = requests.makeAsyncIterator()
        guard let bytes = try await iterator.next() else {
            throw RPCError(code: .internal, message: "\(path) is a \(kind) method but the client sent no request message")
        }
        call.countReceived()
        let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
        guard try await iterator.next() == nil else {
            throw RPCError(code: .internal, message: "\(path) is a \(kind) method but the client sent more than one request message")
        }
        return request
    }
}
