import CapstanAPI
import CapstanRPC
import CapstanWire

/// The RPC methods of one kind's service that the generic routes serve.
struct KindMethods<Object: WireMessage, List: WireMessage, Event: WireMessage>: Sendable {
    var create: MethodDescriptor<Object, Object>
    var get: MethodDescriptor<GetRequest, Object>
    var list: MethodDescriptor<ListRequest, List>
    /// nil when the kind cannot be updated (minions).
    var update: MethodDescriptor<Object, Object>?
    var delete: MethodDescriptor<DeleteRequest, Object>
    var watch: MethodDescriptor<WatchRequest, Event>
}

/// What the generic registry needs to know about one kind (Kubernetes' `strategy.go`): its
/// names, its methods, and what its Update verb may change. Validation and defaults come from
/// the object's `APIObject` conformance in CapstanAPI, shared with clients.
protocol KindStrategy: Sendable {
    associatedtype Object: APIObject & WireMessage
    associatedtype List: WireMessage
    associatedtype Event: WireMessage

    /// Plural lowercase name, the store key segment: "pods".
    static var resource: String { get }
    /// Singular name used in messages: "pod".
    static var kind: String { get }
    static var methods: KindMethods<Object, List, Event> { get }

    /// Turns the object a client sent to Update into what will be stored, given the stored one
    /// (server-set metadata is already copied). Throws `fieldNotChangeable` for a field the
    /// verb may not change; fields it silently keeps (a status) are copied from `old`.
    static func prepareForUpdate(_ new: inout Object, old: Object) throws(RegistryError)

    /// Clears what a client may not set at Create, before defaults apply: a status the kind's
    /// owner reports (a pod's by its kubelet, a controller's by the controller manager).
    static func prepareForCreate(_ object: inout Object)

    /// Where the kind's selectable fields beyond name and namespace are in its encoding: the
    /// same fields, in the same order, as `Object.selectableFieldValues`.
    static var selectorScan: SelectorScan { get }
}

extension KindStrategy {
    static func prepareForUpdate(_ new: inout Object, old: Object) throws(RegistryError) {}

    static func prepareForCreate(_ object: inout Object) {}

    static var selectorScan: SelectorScan { SelectorScan() }

    static var keys: ObjectKeys { ObjectKeys(resource: resource, namespaced: Object.isNamespaced) }

    /// How the watch cache reads this kind's stored bytes: their selector fields straight from
    /// the bytes where they have the plain shape the server stores, else from a full decode.
    static var codec: KindCodec {
        let scan = selectorScan
        return KindCodec(keys: keys) { bytes throws(RegistryError) in
            if let fields = scan.fields(bytes) { return fields }
            return SelectorFields(of: try decode(bytes))
        }
    }

    static func decode(_ bytes: [UInt8]) throws(RegistryError) -> Object {
        do {
            return try Object(serializedBytes: bytes)
        } catch {
            throw .internal("stored \(kind) does not decode: \(error)")
        }
    }

    /// The namespace a request means: "default" for an empty one of a namespaced kind.
    static func requestNamespace(_ namespace: String) -> String {
        Object.isNamespaced && namespace.isEmpty ? defaultNamespace : (Object.isNamespaced ? namespace : "")
    }
}
