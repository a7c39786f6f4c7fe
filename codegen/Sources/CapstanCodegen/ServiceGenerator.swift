/// Emits a service's namespace: method descriptors, a handler protocol for servers with its
/// router registration, and a typed client.
struct ServiceGenerator {
    let service: ServiceDescriptor
    let file: FileDescriptor
    let index: TypeIndex
    let path: [Int32]

    struct Method {
        let descriptor: MethodDescriptor
        let swiftName: String
        let request: String
        let response: String
        let kind: String
        let comment: String?
    }

    var namespace: String {
        index.options.swiftPrefix(forPackage: file.package) + service.name
    }

    var fullName: String {
        file.package.isEmpty ? service.name : file.package + "." + service.name
    }

    func methods() throws -> [Method] {
        try service.methods.enumerated().map { i, m in
            let kind = switch (m.clientStreaming, m.serverStreaming) {
            case (false, false): "unary"
            case (false, true): "serverStreaming"
            case (true, false): "clientStreaming"
            case (true, true): "bidirectional"
            }
            let name = m.name.prefix(1).lowercased() + m.name.dropFirst()
            return Method(
                descriptor: m, swiftName: name, request: try index[m.inputType].swiftName,
                response: try index[m.outputType].swiftName, kind: kind,
                comment: file.comments[path + [2, Int32(i)]])
        }
    }

    func generate(into p: inout Printer) throws {
        let methods = try methods()
        p.docComment(file.comments[path])
        p.block("public enum \(namespace)") { p in
            p.line("/// `\(fullName)`.")
            p.line("public static let serviceName = \"\(fullName)\"")
            p.line()
            p.line("/// Every method of the service.")
            p.block("public enum Method") { p in
                for m in methods {
                    p.docComment(m.comment)
                    p.line("public static let \(Names.escaped(m.swiftName)) = MethodDescriptor<\(m.request), \(m.response)>(service: serviceName, method: \"\(m.descriptor.name)\", kind: .\(m.kind))")
                }
                p.line()
                p.line("public static let all: [AnyMethodDescriptor] = [")
                for m in methods { p.line("    \(Names.escaped(m.swiftName)).erased,") }
                p.line("]")
            }
            p.line()
            p.line("public static let descriptor = ServiceDescriptor(name: serviceName, methods: Method.all)")
            p.line()
            p.line("/// What a server implements to serve `\(fullName)`.")
            p.line("///")
            p.line("/// The methods run on the executor of the task serving the call (`nonisolated(nonsending)`).")
            p.line("/// Implement them `nonisolated(nonsending)` as well: a plain `async` method conforms too,")
            p.line("/// but then every call hops to the global executor and back.")
            p.block("public protocol Handler: Sendable") { p in
                for m in methods {
                    p.docComment(m.comment)
                    p.line("nonisolated(nonsending) func \(m.swiftName)(\(handlerParameters(m))) async throws\(handlerResult(m))")
                }
            }
            p.line()
            generateClient(methods, into: &p)
        }
        p.line()
        p.block("extension \(namespace).Handler") { p in
            p.line("/// Registers every method of `\(fullName)` with `router`.")
            p.block("public func register(on router: inout RPCRouter)") { p in
                for m in methods {
                    let method = "\(namespace).Method.\(Names.escaped(m.swiftName))"
                    switch m.kind {
                    case "unary":
                        // Bytes to bytes in one closure: a typed closure inside the router's
                        // decoding one would be one more async frame, and each frame costs an
                        // executor check when its callee returns.
                        p.line("router.unaryBytes(\(method)) { request, context in")
                        p.line("    try await self.\(m.swiftName)(request: \(method).decodeRequest(request), context: context).serializedBytes()")
                        p.line("}")
                    case "serverStreaming":
                        p.line("router.serverStreaming(\(method)) { request, response, context in try await self.\(m.swiftName)(request: request, response: response, context: context) }")
                    case "clientStreaming":
                        p.line("router.clientStreaming(\(method)) { requests, context in try await self.\(m.swiftName)(requests: requests, context: context) }")
                    default:
                        p.line("router.bidirectional(\(method)) { requests, response, context in try await self.\(m.swiftName)(requests: requests, response: response, context: context) }")
                    }
                }
            }
        }
    }

    private func handlerParameters(_ m: Method) -> String {
        switch m.kind {
        case "unary": "request: \(m.request), context: ServerContext"
        case "serverStreaming": "request: \(m.request), response: ResponseStream<\(m.response)>, context: ServerContext"
        case "clientStreaming": "requests: RequestStream<\(m.request)>, context: ServerContext"
        default: "requests: RequestStream<\(m.request)>, response: ResponseStream<\(m.response)>, context: ServerContext"
        }
    }

    private func handlerResult(_ m: Method) -> String {
        m.kind == "unary" || m.kind == "clientStreaming" ? " -> \(m.response)" : ""
    }

    private func generateClient(_ methods: [Method], into p: inout Printer) {
        p.line("/// A typed client of `\(fullName)`.")
        p.block("public struct Client: Sendable") { p in
            p.line("public let rpc: RPCClient")
            p.line()
            p.line("public init(_ rpc: RPCClient) { self.rpc = rpc }")
            for m in methods {
                p.line()
                p.docComment(m.comment)
                let method = "Method.\(Names.escaped(m.swiftName))"
                switch m.kind {
                case "unary":
                    p.block("public func \(m.swiftName)(_ request: \(m.request), options: CallOptions = .default) async throws -> \(m.response)") { p in
                        p.line("try await rpc.unary(\(method), request, options: options)")
                    }
                case "serverStreaming":
                    p.block("public func \(m.swiftName)(_ request: \(m.request), options: CallOptions = .default) async throws -> ServerStreamingCall<\(m.response)>") { p in
                        p.line("try await rpc.serverStreaming(\(method), request, options: options)")
                    }
                case "clientStreaming":
                    p.block("public func \(m.swiftName)(options: CallOptions = .default) async throws -> ClientStreamingCall<\(m.request), \(m.response)>") { p in
                        p.line("try await rpc.clientStreaming(\(method), options: options)")
                    }
                default:
                    p.block("public func \(m.swiftName)(options: CallOptions = .default) async throws -> BidirectionalCall<\(m.request), \(m.response)>") { p in
                        p.line("try await rpc.bidirectional(\(method), options: options)")
                    }
                }
            }
        }
    }
}
