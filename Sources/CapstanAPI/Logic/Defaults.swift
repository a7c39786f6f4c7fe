/// The namespace of namespaced objects that name none.
public let defaultNamespace = "default"

/// The largest encoded object an API server takes by default (`APIServerOptions.maxObjectBytes`);
/// capctl refuses a bigger one before sending anything.
public let defaultMaxObjectBytes = 1 << 20

extension APIObject {
    /// Sets `metadata.namespace` to "default" when a namespaced object names none.
    mutating func defaultNamespaceIfEmpty() {
        guard Self.isNamespaced else { return }
        // One in-place access: reading `metadata.namespace` would copy the whole metadata (a
        // retain of every field) to look at one.
        func fill(_ meta: inout ObjectMeta) { if meta.namespace.isEmpty { meta.namespace = defaultNamespace } }
        fill(&metadata)
    }
}

extension PodSpec {
    /// Restart policy ALWAYS and port protocol TCP where unset.
    public mutating func applyDefaults() {
        if restartPolicy == .unspecified { restartPolicy = .always }
        // Looked for first: a mutating walk copies the containers (still shared with the request
        // they were decoded into) even when it writes nothing.
        let unset = containers.contains { $0.ports.contains { $0.protocol == .unspecified } }
        guard unset else { return }
        for containerIndex in containers.indices {
            for portIndex in containers[containerIndex].ports.indices
            where containers[containerIndex].ports[portIndex].protocol == .unspecified {
                containers[containerIndex].ports[portIndex].protocol = .tcp
            }
        }
    }
}

extension Pod {
    /// Namespace "default", the spec's defaults, phase PENDING.
    public mutating func applyDefaults() {
        defaultNamespaceIfEmpty()
        spec.applyDefaults()
        // Read through the optional storage: `status.phase` would copy the whole status.
        if (_status?.phase ?? .unspecified) == .unspecified { status.phase = .pending }
    }
}

extension Minion {
    /// Minions have no defaults beyond their (empty) namespace.
    public mutating func applyDefaults() {}
}

extension Service {
    /// Namespace "default", protocol TCP, session affinity NONE, container port = port (when the
    /// port is one: a copy of a bad port would be reported twice, once for a field not set).
    public mutating func applyDefaults() {
        defaultNamespaceIfEmpty()
        if spec.protocol == .unspecified { spec.protocol = .tcp }
        if spec.sessionAffinity == .unspecified { spec.sessionAffinity = .none }
        if spec.containerPort == 0 && (1...65_535).contains(spec.port) { spec.containerPort = spec.port }
    }
}

extension ReplicationController {
    /// Namespace "default" and the template's pod spec defaults.
    public mutating func applyDefaults() {
        defaultNamespaceIfEmpty()
        if hasSpec && spec.hasTemplate { spec.template.spec.applyDefaults() }
    }
}

extension Endpoints {
    /// Namespace "default".
    public mutating func applyDefaults() {
        defaultNamespaceIfEmpty()
    }
}
