import CapstanAPI
import CapstanHTTP2
public import CapstanRPC
import CapstanWire

/// Why a command failed, with the message the user sees.
public enum CapctlError: Error, CustomStringConvertible, Sendable {
    /// The command line was wrong (unknown kind, missing name, bad flag value).
    case usage(String)
    /// A manifest could not be read or decoded; the message names the file, document, line and field.
    case manifest(String)
    /// The configuration file could not be read or written.
    case config(String)
    /// The server answered with an error.
    case server(RPCError, context: String)
    /// Several failures (e.g. deleting several objects); each already printed.
    case failed(count: Int)
    /// Anything else, said plainly.
    case other(String)

    public var description: String {
        switch self {
        case .usage(let message), .manifest(let message), .config(let message), .other(let message):
            return message
        case .server(let error, let context):
            return (context.isEmpty ? "" : "\(context): ") + Self.describe(error)
        case .failed(let count):
            return count == 1 ? "1 operation failed" : "\(count) operations failed"
        }
    }

    /// The server's code and message, then every field violation of a BadRequest detail.
    static func describe(_ error: RPCError) -> String {
        var text = "\(error.code): \(visible(error.message))"
        let violations = fieldViolations(error)
        for violation in violations {
            let line = "\(violation.field): \(violation.description)"
            // A message about one violation already says it.
            if violations.count == 1 && (error.message.hasSuffix(line) || error.message.hasSuffix(violation.description)) {
                continue
            }
            text += "\n  " + visible(line)
        }
        if error.code == .unauthenticated {
            text += "\n  give capctl a valid token: --token TOKEN, or `capctl config set token TOKEN`"
        }
        if error.code == .invalidArgument && error.message.contains("use Bindings/Create") {
            text += "\n  with capctl: capctl bind POD MINION"
        }
        // Our own client's words for a server it cannot reach: not a server's answer that its
        // store (whose client says the same of etcd) is unreachable.
        // …or a deadline that passed before the call reached any server.
        let unreachable =
            (error.code == .unavailable && error.message.hasPrefix("no target is reachable"))
            || (error.code == .deadlineExceeded && error.isUnprocessed)
        if unreachable {
            text += "\n  is the API server running? Start one with `make run` or `capstan up`;"
                + " point capctl at it with --server HOST:PORT or `capctl config set servers HOST:PORT`"
        }
        return text
    }

    /// The `google.rpc.BadRequest` field violations carried in `grpc-status-details-bin`.
    static func fieldViolations(_ error: RPCError) -> [Google_Rpc_BadRequest.FieldViolation] {
        guard let bytes = error.details, let status = try? Google_Rpc_Status(serializedBytes: bytes) else { return [] }
        var violations: [Google_Rpc_BadRequest.FieldViolation] = []
        for detail in status.details where detail.typeUrl.hasSuffix("/google.rpc.BadRequest") {
            if let badRequest = try? Google_Rpc_BadRequest(serializedBytes: detail.value) {
                violations.append(contentsOf: badRequest.fieldViolations)
            }
        }
        return violations
    }
}
