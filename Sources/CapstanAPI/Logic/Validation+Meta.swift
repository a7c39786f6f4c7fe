/// Validation shared by every kind: metadata, label maps, ports and enums.
public enum Validation {
    /// Problems of `meta` at `path` (`metadata`, or `spec.template.metadata` for a template, where
    /// `requireName` is false). Names and namespaces are DNS-1123 labels; a cluster-scoped object
    /// has no namespace; label keys and values and annotation keys follow Kubernetes' rules.
    public static func metadata(
        _ meta: ObjectMeta, namespaced: Bool, requireName: Bool = true, path: FieldPath = "metadata"
    ) -> FieldErrors {
        var errors = FieldErrors()
        let prefixViolation = meta.generateName.isEmpty ? nil : generateNameViolation(meta.generateName)
        if requireName || !meta.name.isEmpty {
            if meta.name.isEmpty && !meta.generateName.isEmpty {
                // A bad generate_name is the whole problem: no name is made from it.
                if prefixViolation == nil {
                    errors.add(path.child("name"), "must not be empty (the server fills it from generate_name on Create)")
                }
            } else {
                errors.add(path.child("name"), ifPresent: DNS1123.labelViolation(meta.name))
            }
        }
        if let prefixViolation {
            errors.add(path.child("generate_name"), "must be the start of a DNS-1123 label: \(prefixViolation)")
        }
        if namespaced {
            if requireName || !meta.namespace.isEmpty {
                errors.add(path.child("namespace"), ifPresent: DNS1123.labelViolation(meta.namespace))
            }
        } else if !meta.namespace.isEmpty {
            errors.add(path.child("namespace"), "must be empty: this kind is not namespaced")
        }
        errors.append(contentsOf: labels(meta.labels, path: path.child("labels")))
        // Sorted (for a stable order of errors) only when some key is wrong.
        if !meta.annotations.keys.allSatisfy({ DNS1123.qualifiedNameViolation($0) == nil }) {
            for key in meta.annotations.keys.sorted() {
                errors.add(path.child("annotations").key(key), ifPresent: DNS1123.qualifiedNameViolation(key))
            }
        }
        return errors
    }

    /// Why `prefix` cannot start a generated name, or nil. At most 63 characters (the generator
    /// keeps the first 58), checked first: the rest of the check is then bounded, whatever a
    /// request carries. A prefix may end in dashes (the random suffix follows them); otherwise it
    /// must be a label itself.
    public static func generateNameViolation(_ prefix: String) -> String? {
        let bytes = prefix.utf8
        var end = bytes.count
        if end <= DNS1123.maxLabelLength {
            while end > 1, bytes[bytes.index(bytes.startIndex, offsetBy: end - 1)] == UInt8(ascii: "-") { end -= 1 }
        }
        return DNS1123.labelViolation(String(Substring(bytes.prefix(end))))
    }

    /// Problems of a label map (labels, selectors, node selectors) at `path` (built only when
    /// some entry is wrong).
    public static func labels(_ labels: [String: String], path: @autoclosure () -> FieldPath) -> FieldErrors {
        var errors = FieldErrors()
        // Sorted (for a stable order of errors) only when some entry is wrong.
        let valid = labels.allSatisfy { key, value in
            DNS1123.qualifiedNameViolation(key) == nil && DNS1123.labelValueViolation(value) == nil
        }
        if valid { return errors }
        let path = path()
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            errors.add(path.key(key), ifPresent: DNS1123.qualifiedNameViolation(key))
            errors.add(path.key(key), ifPresent: DNS1123.labelValueViolation(value).map { "value \($0)" })
        }
        return errors
    }

    /// Why `port` is not a port number (1–65535), or nil.
    public static func portViolation(_ port: Int32) -> String? {
        (1...65535).contains(port) ? nil : "must be between 1 and 65535 (is \(port))"
    }

    /// Why `value` is not a known value of its enum (the zero value counts as known: "not set").
    public static func enumViolation<E: ProtoEnum>(_ value: E) -> String? {
        guard value.protoName == nil else { return nil }
        let known = E.allCases.compactMap(\.protoName).joined(separator: ", ")
        return "\(value.rawValue) is not a value of \(E.protoEnumName) (one of: \(known))"
    }

    /// Why `value` is negative, or nil.
    public static func nonNegativeViolation<N: BinaryInteger>(_ value: N) -> String? {
        value < 0 ? "must not be negative (is \(value))" : nil
    }
}
