public import CapstanRPC
import CapstanAPI
import CapstanStore
import CapstanWire

/// The one table from domain errors to gRPC statuses (API.md, "Errors").
extension RegistryError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch self {
        case .notFound(let kind, let namespace, let name):
            return RPCError(code: .notFound, message: "\(kind) \"\(objectPath(namespace: namespace, name: name))\" not found")
        case .alreadyExists(let kind, let namespace, let name):
            return RPCError(code: .alreadyExists, message: "\(kind) \"\(objectPath(namespace: namespace, name: name))\" already exists")
        case .conflict(let kind, let namespace, let name, let expected, let current):
            return RPCError(
                code: .aborted,
                message: "\(kind) \"\(objectPath(namespace: namespace, name: name))\" was modified: expected resource version \(expected), current is \(current); read it again and retry")
        case .uidMismatch(let kind, let namespace, let name, let expected, let current):
            return RPCError(
                code: .aborted,
                message: "\(kind) \"\(objectPath(namespace: namespace, name: name))\" has uid \(current), not the expected \(expected) "
                    + "(it was deleted and created again, or the uid is wrong); read it again and retry")
        case .invalid(let kind, let namespace, let name, let errors):
            let list = errors.map(\.description).joined(separator: "; ")
            // No name (a List's limit, a create that names nothing): no `"ns/"` to show.
            if name.isEmpty { return .badRequest("invalid \(kind) request: \(list)", errors) }
            return .badRequest("\(kind) \"\(objectPath(namespace: namespace, name: name))\" is invalid: \(list)", errors)
        case .fieldNotChangeable(let kind, let namespace, let name, let field, let verb, let advice):
            let error = RegistryError.notChangeable(field: field, verb: verb, advice: advice)
            return .badRequest("\(kind) \"\(objectPath(namespace: namespace, name: name))\" is invalid: \(error)", [error])
        case .unsupported(let reason):
            return RPCError(code: .unimplemented, message: reason)
        case .badSelector(let error):
            let field = error.kind == .label ? "label_selector" : "field_selector"
            return .badRequest(error.description, [FieldError(FieldPath(field), error.located)])
        case .badContinueToken(let reason):
            return .badRequest("invalid continue_token: \(reason)", [FieldError("continue_token", reason)])
        case .tooOld(let requested):
            return RPCError(code: .outOfRange, message: "resource version \(requested) is too old; list again")
        case .tooNew(let requested, let current):
            return RPCError(
                code: .outOfRange,
                message: "resource version \(requested) is newer than the store's revision \(current): "
                    + "it is not from this store (was the store replaced?); list again")
        case .continueTooNew(let requested, let current):
            return RPCError(
                code: .outOfRange,
                message: "the continue token's resource version \(requested) is newer than the store's revision "
                    + "\(current): it is not from this store (was the store replaced?); list again without it")
        case .readAfterUnknown(let requested, let current):
            var trailers = Metadata()
            try? trailers.add(ReadAfter.rejectedKey, String(current))
            return RPCError(
                code: .outOfRange,
                message: "\(ReadAfter.key) revision \(requested) is newer than the store's revision \(current): "
                    + "the client saw another store (was the store replaced?); read again without it",
                trailers: trailers)
        case .alreadyBound(let namespace, let name, let host):
            return RPCError(code: .failedPrecondition, message: "pod \"\(namespace)/\(name)\" is already bound to minion \"\(host)\"")
        case .portInUse(let port, let proto, let holderNamespace, let holderName):
            return RPCError(
                code: .alreadyExists,
                message: "port \(port)/\(proto) is already used by service \"\(holderNamespace)/\(holderName)\"")
        case .serviceDisplaced(let namespace, let name, let port, let oldPort):
            return RPCError(
                code: .alreadyExists,
                message: "service \"\(namespace)/\(name)\" was deleted: port \(port) was taken over while it was "
                    + "being updated, and port \(oldPort), which it held before, went to another service "
                    + "meanwhile; create it again on a free port")
        case .serviceBeingMoved(let namespace, let name, let port):
            return RPCError(
                code: .aborted,
                message: "service \"\(namespace)/\(name)\" is being moved to port \(port) by another update; "
                    + "read it again and retry")
        case .watcherTooSlow(let limit):
            return RPCError(
                code: .resourceExhausted,
                message: "watcher fell more than \(limit) events behind and was dropped; watch again from the last resource version received")
        case .initialEventsTooSlow(let revision, let events, let bytes):
            return RPCError(
                code: .resourceExhausted,
                message: "watcher took its initial events too slowly: the changes since their resource version "
                    + "\(revision) are no longer all retained (the watch cache keeps the last \(events) changes, at most "
                    + "\(bytes >> 20) MiB of them, and the store compacts its history); watch again")
        case .tooLarge(let kind, let bytes, let limit):
            return RPCError(code: .resourceExhausted, message: "\(kind) is \(bytes) bytes encoded; the limit is \(limit)")
        case .tooManyWatches(let resource, let limit):
            return RPCError(
                code: .resourceExhausted,
                message: "too many watches of \(resource): this API server already serves \(limit); "
                    + "stop watches that are not needed, or retry later")
        case .unauthenticated(let reason):
            return RPCError(code: .unauthenticated, message: reason)
        case .permissionDenied(let identity, let method):
            return RPCError(code: .permissionDenied, message: "\(identity) may not call \(method)")
        case .unavailable(let reason):
            return RPCError(code: .unavailable, message: "\(reason); retry")
        case .store(let error):
            return Self.storeError(error)
        case .internal(let reason):
            return RPCError(code: .internal, message: reason)
        }
    }

    /// Store failures that reach a client without a registry meaning.
    private static func storeError(_ error: StoreError) -> RPCError {
        switch error {
        case .notFound(let key): RPCError(code: .notFound, message: "\(key) not found")
        case .alreadyExists(let key): RPCError(code: .alreadyExists, message: "\(key) already exists")
        case .conflict(let key, let current):
            RPCError(code: .aborted, message: "\(key) was modified: current revision is \(current)")
        case .compacted(let requested, _):
            RPCError(code: .outOfRange, message: "resource version \(requested) is too old; list again")
        case .unavailable(let reason): RPCError(code: .unavailable, message: "store unavailable: \(reason); retry")
        case .invalid(let reason): RPCError(code: .invalidArgument, message: "invalid request: \(reason)")
        }
    }
}

/// `grpc-status-details-bin` for INVALID_ARGUMENT: a `google.rpc.Status` whose one detail is a
/// `google.rpc.BadRequest` listing every field violation.
enum BadRequestDetails {
    static let typeURL = "type.googleapis.com/google.rpc.BadRequest"

    static func encode(code: RPCCode, message: String, _ errors: [FieldError]) -> [UInt8] {
        var badRequest = Google_Rpc_BadRequest()
        badRequest.fieldViolations = errors.map { error in
            var violation = Google_Rpc_BadRequest.FieldViolation()
            violation.field = error.path.description
            violation.description = error.reason
            return violation
        }
        var any = Google_Protobuf_Any()
        any.typeUrl = typeURL
        any.value = badRequest.serializedBytes()
        var status = Google_Rpc_Status()
        status.code = Int32(code.rawValue)
        status.message = message
        status.details = [any]
        return status.serializedBytes()
    }
}

extension RPCError {
    /// INVALID_ARGUMENT with `google.rpc.BadRequest` details listing `errors`. The details'
    /// `google.rpc.Status` carries the same message as `grpc-message`: clients check that they
    /// agree (grpcio's `rpc_status.from_call` refuses details whose message differs).
    static func badRequest(_ message: String, _ errors: [FieldError]) -> RPCError {
        RPCError(
            code: .invalidArgument, message: message,
            details: BadRequestDetails.encode(code: .invalidArgument, message: message, errors))
    }
}
