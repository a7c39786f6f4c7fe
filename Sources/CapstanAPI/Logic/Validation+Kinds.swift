extension Validation {
    /// Problems of a minion spec at `path`: a kubelet port of 0 (default) or 1–65535, and
    /// non-negative capacity.
    public static func minionSpec(_ spec: MinionSpec, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        if spec.kubeletPort != 0 {
            errors.add(path.child("kubelet_port"), ifPresent: portViolation(spec.kubeletPort).map { $0 + " (0 means the default)" })
        }
        let capacity = path.child("capacity")
        errors.add(capacity.child("cpu_millis"), ifPresent: nonNegativeViolation(spec.capacity.cpuMillis))
        errors.add(capacity.child("memory_bytes"), ifPresent: nonNegativeViolation(spec.capacity.memoryBytes))
        errors.add(capacity.child("pods"), ifPresent: nonNegativeViolation(spec.capacity.pods))
        return errors
    }

    /// Problems of a minion status at `path`: known condition statuses, a type for every condition.
    public static func minionStatus(_ status: MinionStatus, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        for (index, condition) in status.conditions.enumerated() {
            let conditionPath = path.child("conditions").index(index)
            if condition.type.isEmpty { errors.add(conditionPath.child("type"), "must not be empty") }
            errors.add(conditionPath.child("status"), ifPresent: enumViolation(condition.status))
        }
        errors.add(path.child("machine_info").child("num_cores"), ifPresent: nonNegativeViolation(status.machineInfo.numCores))
        errors.add(path.child("machine_info").child("memory_bytes"), ifPresent: nonNegativeViolation(status.machineInfo.memoryBytes))
        return errors
    }

    /// Problems of a service spec at `path`: a port 1–65535, a known protocol and session
    /// affinity, a container port of 0 (the port) or 1–65535, a valid selector.
    public static func serviceSpec(_ spec: ServiceSpec, path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        errors.add(path.child("port"), ifPresent: portViolation(spec.port))
        errors.add(path.child("protocol"), ifPresent: enumViolation(spec.protocol))
        if spec.containerPort != 0 {
            errors.add(path.child("container_port"), ifPresent: portViolation(spec.containerPort))
        }
        errors.add(path.child("session_affinity"), ifPresent: enumViolation(spec.sessionAffinity))
        errors.append(contentsOf: labels(spec.selector, path: path.child("selector")))
        return errors
    }

    /// Problems of a replication controller spec at `path`: non-negative replicas, a non-empty
    /// selector, a template whose labels match the selector, whose namespace is empty or
    /// `namespace` (the controller's: its pods are made there), and whose pod spec is valid with
    /// restart policy ALWAYS (a controller replaces pods that end; as in Kubernetes).
    public static func replicationControllerSpec(
        _ spec: ReplicationControllerSpec, namespace: String, path: FieldPath
    ) -> FieldErrors {
        var errors = FieldErrors()
        errors.add(path.child("replicas"), ifPresent: nonNegativeViolation(spec.replicas))
        if spec.selector.isEmpty {
            errors.add(path.child("selector"), "must not be empty")
        } else {
            errors.append(contentsOf: labels(spec.selector, path: path.child("selector")))
        }
        let template = path.child("template")
        if !spec.hasTemplate {
            errors.add(template, "is required")
            return errors
        }
        let templateMeta = template.child("metadata")
        errors.append(contentsOf: metadata(spec.template.metadata, namespaced: true, requireName: false, path: templateMeta))
        let templateNamespace = spec.template.metadata.namespace
        if !templateNamespace.isEmpty && templateNamespace != namespace && DNS1123.isLabel(templateNamespace) {
            errors.add(
                templateMeta.child("namespace"),
                "must be empty or the controller's namespace \"\(namespace)\" (its pods are created there), not \"\(templateNamespace)\"")
        }
        if !spec.selector.isEmpty && !LabelSelector(matching: spec.selector).matches(spec.template.metadata.labels) {
            errors.add(templateMeta.child("labels"), "must match the selector \(LabelSelector(matching: spec.selector))")
        }
        errors.append(contentsOf: podSpec(spec.template.spec, path: template.child("spec")))
        let policy = spec.template.spec.restartPolicy
        if policy != .always && policy != .unspecified && enumViolation(policy) == nil {
            errors.add(
                template.child("spec").child("restart_policy"),
                "must be ALWAYS in a controller's template (it replaces pods that end), not \(policy.protoName ?? "\(policy.rawValue)")")
        }
        return errors
    }

    /// Problems of an endpoints list at `path`: every entry `ip:port` with an IPv4 address or a
    /// bracketed IPv6 address and a port 1–65535.
    public static func endpoints(_ endpoints: [String], path: FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        for (index, endpoint) in endpoints.enumerated() {
            errors.add(path.index(index), ifPresent: endpointViolation(endpoint))
        }
        return errors
    }

    /// Why `endpoint` is not `ip:port`, or nil.
    public static func endpointViolation(_ endpoint: String) -> String? {
        let expected = "must be \"ip:port\", e.g. \"10.10.1.1:1909\", with no leading zeros (is \"\(endpoint.prefix(64))\")"
        // ASCII first: searching text backwards character by character costs time quadratic in
        // its length for some inputs (a run of flag halves).
        guard endpoint.utf8.allSatisfy({ $0 < 0x80 }), let colon = endpoint.lastIndex(of: ":") else { return expected }
        let host = endpoint[..<colon]
        let portText = endpoint[endpoint.index(after: colon)...]
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              portText.count == 1 || portText.first != "0", let port = Int32(portText)
        else { return expected }
        if let reason = portViolation(port) { return "port " + reason }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            return isIPv6(host.dropFirst().dropLast()) ? nil : expected
        }
        return isIPv4(host) ? nil : expected
    }

    /// Whether `text` is a dotted-quad IPv4 address. An octet with a leading zero is not: C's
    /// `inet_aton` reads "010" as octal 8, so such an address means different hosts to different
    /// readers (Kubernetes, and Go's parser since 1.17, reject it too).
    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber }
                && (part.count == 1 || part.first != "0") && (Int(part) ?? 256) <= 255
        }
    }

    /// Whether `text` is an IPv6 address in hex groups, with at most one "::" elision.
    static func isIPv6(_ text: Substring) -> Bool {
        func groups(_ part: Substring) -> [Substring]? {
            if part.isEmpty { return [] }
            let groups = part.split(separator: ":", omittingEmptySubsequences: false)
            let valid = groups.allSatisfy { (1...4).contains($0.count) && $0.allSatisfy(\.isHexDigit) }
            return valid ? groups : nil
        }
        guard let elision = text.firstRange(of: "::") else {
            return groups(text)?.count == 8
        }
        let head = text[..<elision.lowerBound]
        let tail = text[elision.upperBound...]
        guard let before = groups(head), let after = groups(tail) else { return false }
        return before.count + after.count <= 7
    }
}
