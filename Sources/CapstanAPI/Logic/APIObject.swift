/// What every stored kind shares: `ObjectMeta metadata = 1` and the fields its selectors can use.
public protocol APIObject: ProtoMessage {
    var metadata: ObjectMeta { get set }
    /// Whether objects live in a namespace (cluster-scoped kinds have an empty one).
    static var isNamespaced: Bool { get }
    /// Every problem of the object, as paths from its root (call after `applyDefaults()`).
    func validate() -> FieldErrors
    /// Fills unset fields with their defaults (see `Defaults.swift`).
    mutating func applyDefaults()
    /// The fields field selectors may name for this kind.
    static var fieldSchema: FieldSchema { get }
    /// This object's selectable fields, in canonical form (see `FieldSelector`).
    var selectableFieldValues: FieldValues { get }
}

extension APIObject {
    /// This object's selectable fields, in canonical form, as a dictionary.
    public var selectableFields: [String: String] { selectableFieldValues.dictionary }

    /// `metadata.name` and `metadata.namespace`.
    var metadataFields: FieldValues {
        FieldValues([.init("metadata.name", metadata.name), .init("metadata.namespace", metadata.namespace)])
    }
}

extension Pod: APIObject {
    public static let isNamespaced = true

    public func validate() -> FieldErrors {
        var errors = Validation.metadata(metadata, namespaced: true)
        errors.append(contentsOf: Validation.podSpec(spec, path: "spec"))
        errors.append(contentsOf: Validation.podStatus(status, path: "status"))
        return errors
    }

    public static let fieldSchema = FieldSchema([
        "spec.host": .string,
        // As objects show it: an unset phase (and a selector naming UNSPECIFIED) is PENDING.
        "status.phase": .enumeration(
            { PodPhase(protoName: $0).map(PodPhase.selectorValue) },
            names: PodPhase.allCases.filter { $0 != .unspecified }.compactMap(\.protoName)),
    ])

    /// `spec.host` is "" while unscheduled; an unset phase counts as `PENDING`, its default.
    public var selectableFieldValues: FieldValues {
        // Through the optional storage: `metadata.name` copies the whole metadata (a retain of
        // every field) to read one; every write asks for these.
        return FieldValues([
            .init("metadata.name", _metadata?.name ?? ""), .init("metadata.namespace", _metadata?.namespace ?? ""),
            .init("spec.host", _spec?.host ?? ""),
            .init("status.phase", PodPhase.selectorValue(_status?.phase ?? .unspecified)),
        ])
    }
}

extension PodPhase {
    /// How `status.phase` reads in field selectors: the phase's name, `PENDING` when unset.
    public static func selectorValue(_ phase: PodPhase) -> String {
        let shown = phase == .unspecified ? PodPhase.pending : phase
        return shown.protoName ?? String(shown.rawValue)
    }
}

extension Minion: APIObject {
    public static let isNamespaced = false

    public func validate() -> FieldErrors {
        var errors = Validation.metadata(metadata, namespaced: false)
        errors.append(contentsOf: Validation.minionSpec(spec, path: "spec"))
        errors.append(contentsOf: Validation.minionStatus(status, path: "status"))
        return errors
    }

    public static let fieldSchema = FieldSchema(["spec.unschedulable": .bool])

    public var selectableFieldValues: FieldValues {
        var fields = metadataFields
        fields.fields.append(.init("spec.unschedulable", spec.unschedulable ? "true" : "false"))
        return fields
    }
}

extension Service: APIObject {
    public static let isNamespaced = true

    public func validate() -> FieldErrors {
        var errors = Validation.metadata(metadata, namespaced: true)
        errors.append(contentsOf: Validation.serviceSpec(spec, path: "spec"))
        return errors
    }

    public static let fieldSchema = FieldSchema()
    public var selectableFieldValues: FieldValues { metadataFields }
}

extension ReplicationController: APIObject {
    public static let isNamespaced = true

    public func validate() -> FieldErrors {
        var errors = Validation.metadata(metadata, namespaced: true)
        errors.append(contentsOf: Validation.replicationControllerSpec(spec, namespace: metadata.namespace, path: "spec"))
        errors.add("status.replicas", ifPresent: Validation.nonNegativeViolation(status.replicas))
        return errors
    }

    public static let fieldSchema = FieldSchema()
    public var selectableFieldValues: FieldValues { metadataFields }
}

extension Endpoints: APIObject {
    public static let isNamespaced = true

    public func validate() -> FieldErrors {
        var errors = Validation.metadata(metadata, namespaced: true)
        errors.append(contentsOf: Validation.endpoints(endpoints, path: "endpoints"))
        return errors
    }

    public static let fieldSchema = FieldSchema()
    public var selectableFieldValues: FieldValues { metadataFields }
}
