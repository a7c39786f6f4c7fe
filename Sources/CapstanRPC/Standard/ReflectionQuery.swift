import CapstanWire

/// A server reflection request, whichever package (`grpc.reflection.v1` or `v1alpha`) it came in.
/// The two packages' messages have identical shapes, so the service answers this neutral form
/// and each package only converts to and from it (`ReflectionSchema`).
enum ReflectionQuery: Sendable, Hashable {
    case fileByFilename(String)
    case fileContainingSymbol(String)
    case fileContainingExtension(type: String, number: Int32)
    case allExtensionNumbersOfType(String)
    case listServices
    /// No request case set, or one newer than this schema.
    case unrecognized
}

/// The answer to a `ReflectionQuery`: the `message_response` case of the response.
enum ReflectionAnswer: Sendable, Hashable {
    /// Serialized `FileDescriptorProto`s.
    case files([[UInt8]])
    case extensionNumbers(baseType: String, numbers: [Int32])
    case services([String])
    case error(RPCCode, String)
}

/// One package's reflection messages, as seen by the shared logic.
protocol ReflectionSchema {
    associatedtype Request: WireMessage
    associatedtype Response: WireMessage

    static func query(of request: Request) -> ReflectionQuery
    /// The response to `request`: `answer`, plus `valid_host` and `original_request` echoed.
    static func response(to request: Request, answer: ReflectionAnswer) -> Response
}

extension ReflectionIndex {
    /// Answers one query the way grpc's reflection service does; `services` is the list
    /// `list_services` reports.
    func answer(_ query: ReflectionQuery, services: [String]) -> ReflectionAnswer {
        switch query {
        case .listServices:
            return .services(services)
        case .fileByFilename(let name):
            guard file(named: name) != nil else { return .error(.notFound, "file not found: \(name)") }
            return .files(serializedWithDependencies(name))
        case .fileContainingSymbol(let symbol):
            guard let name = file(containingSymbol: symbol) else {
                return .error(.notFound, "symbol not found: \(symbol)")
            }
            return .files(serializedWithDependencies(name))
        case .fileContainingExtension(let type, let number):
            guard isMessage(type) else { return .error(.notFound, "message type not found: \(type)") }
            guard let name = file(containingExtension: number, of: type) else {
                return .error(.notFound, "extension \(number) of \(type) not found")
            }
            return .files(serializedWithDependencies(name))
        case .allExtensionNumbersOfType(let type):
            guard isMessage(type) else { return .error(.notFound, "message type not found: \(type)") }
            return .extensionNumbers(baseType: type, numbers: extensionNumbers(of: type))
        case .unrecognized:
            // grpc answers UNIMPLEMENTED too: the client may know a request kind we do not.
            return .error(.unimplemented, "unrecognized reflection request")
        }
    }
}
