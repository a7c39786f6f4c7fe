import CapstanWire

/// Adapters from typed handlers to the router's byte-level `Handler`.
extension RPCRouter {
    /// A typed unary handler as bytes to bytes (see `UnaryHandler`).
    static func unaryBytesHandler<Req, Res>(
        _ m: MethodDescriptor<Req, Res>,
        _ handler: nonisolated(nonsending) @escaping @Sendable (Req, ServerContext) async throws -> Res
    ) -> UnaryHandler {
        let path = m.path
        return { bytes, context in
            let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
            return try await handler(request, context).serializedBytes()
        }
    }

    /// The general handler of a unary method (the path taken when the fast path cannot be).
    static func unaryHandler<Req, Res>(_ m: MethodDescriptor<Req, Res>, _ unary: @escaping UnaryHandler) -> Handler {
        let path = m.path
        return { requests, call, context in
            let request = try await singleRequestBytes(from: requests, path: path, kind: .unary)
            call.countReceived()
            try await call.finishUnary(try await unary(request, context))
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
        guard let bytes = try await iterator.next() else { throw noRequestError(path: path, kind: kind) }
        call.countReceived()
        let request = try MessageCodec.decodeRequest(Req.self, from: bytes, path: path)
        guard try await iterator.next() == nil else { throw severalRequestsError(path: path, kind: kind) }
        // A call the client reset (or whose deadline passed) before its handler ran ends here,
        // its status already decided: a client that opens and resets streams as fast as it can
        // must not make the server do each one's work (a watch's initial listing, say).
        try Task.checkCancellation()
        return request
    }

    /// The bytes of the one request message (see `singleRequest`).
    @inline(never)
    static func singleRequestBytes(
        from requests: any AsyncSequence<[UInt8], any Error> & Sendable,
        path: String,
        kind: StreamingKind
    ) async throws -> [UInt8] {
        var iterator = requests.makeAsyncIterator()
        guard let bytes = try await iterator.next() else { throw noRequestError(path: path, kind: kind) }
        guard try await iterator.next() == nil else { throw severalRequestsError(path: path, kind: kind) }
        return bytes
    }

    static func noRequestError(path: String, kind: StreamingKind) -> RPCError {
        RPCError(code: .internal, message: "\(path) is a \(kind) method but the client sent no request message")
    }

    static func severalRequestsError(path: String, kind: StreamingKind) -> RPCError {
        RPCError(code: .internal, message: "\(path) is a \(kind) method but the client sent more than one request message")
    }
}
