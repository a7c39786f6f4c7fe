import CapstanWire

extension ClientCall {
    /// Reads exactly one response message up to an OK status (unary and client-streaming calls).
    func singleResponse<Response: WireMessage>(_ type: Response.Type) async throws(RPCError) -> Response {
        guard let bytes = try await nextMessage() else {
            throw RPCError(code: .internal, message: "\(path) ended with OK but sent no response message")
        }
        let response: Response
        do {
            response = try MessageCodec.decodeResponse(Response.self, from: bytes, path: path)
        } catch {
            cancel()
            throw error
        }
        guard try await nextMessage() == nil else {
            cancel()
            throw RPCError(code: .internal, message: "\(path) sent more than one response message")
        }
        return response
    }
}
