import CapstanAPI

/// The fields selectors read, extracted once per stored version.
struct SelectorFields: Sendable, Hashable {
    var labels: [String: String]
    /// Canonical values of the kind's selectable fields (see `FieldSelector`).
    var fields: FieldValues
}

extension SelectorFields {
    /// What selectors read of a decoded object.
    init<Object: APIObject>(of object: Object) {
        self.init(labels: object.metadata.labels, fields: object.selectableFieldValues)
    }
}

/// How the cache reads one kind: where its keys are and how to get selector fields from bytes.
struct KindCodec: Sendable {
    let keys: ObjectKeys
    let selectorFields: @Sendable ([UInt8]) throws(RegistryError) -> SelectorFields
}

/// One stored object as the cache keeps it: the encoding answered to clients (with
/// `metadata.resource_version` set) and the few fields selectors need. No decoded object.
struct CachedObject: Sendable {
    let key: String
    let namespace: String
    let name: String
    let selectorFields: SelectorFields
    /// The revision of the write this version reports (for a deleted object: the delete's).
    let revision: Int64
    let bytes: [UInt8]

    /// The same object reported at another revision (a deleted object at the delete's revision).
    func at(revision: Int64) -> CachedObject {
        let bytes = (try? ProtoBytes.object(bytes, withResourceVersion: revision)) ?? bytes
        return CachedObject(key: key, namespace: namespace, name: name, selectorFields: selectorFields, revision: revision, bytes: bytes)
    }
}

/// What a List or Watch selects: a namespace ("" for all), a label and a field selector.
struct ObjectFilter: Sendable {
    var namespace: String = ""
    var labels = LabelSelector()
    var fields = FieldSelector()

    func matches(_ object: CachedObject) -> Bool {
        (namespace.isEmpty || object.namespace == namespace)
            && labels.matches(object.selectorFields.labels)
            && fields.matches(object.selectorFields.fields)
    }

    /// Parses a request's selectors against the kind's field schema.
    static func parse(namespace: String, labelSelector: String, fieldSelector: String, schema: FieldSchema)
        throws(RegistryError) -> ObjectFilter
    {
        do {
            return ObjectFilter(
                namespace: namespace,
                labels: try LabelSelector.parse(labelSelector),
                fields: try FieldSelector.parse(fieldSelector, schema: schema))
        } catch {
            throw .badSelector(error)
        }
    }
}
