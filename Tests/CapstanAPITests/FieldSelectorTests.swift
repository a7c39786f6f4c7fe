import CapstanAPI
import Testing

@Suite("Field selectors")
struct FieldSelectorTests {
    func pod(host: String = "", phase: PodPhase = .running) -> Pod {
        var pod = Pod()
        pod.metadata.name = "web-1"
        pod.metadata.namespace = "prod"
        pod.spec.host = host
        pod.status.phase = phase
        return pod
    }

    @Test("pod fields: name, namespace, host (empty = unscheduled), phase in any spelling", arguments: [
        ("metadata.name=web-1", true),
        ("metadata.name==web-2", false),
        ("metadata.namespace=prod", true),
        ("metadata.namespace!=prod", false),
        ("spec.host=", true),
        ("spec.host!=", false),
        ("spec.host=m1", false),
        ("status.phase=Running", true),
        ("status.phase=RUNNING", true),
        ("status.phase=POD_PHASE_RUNNING", true),
        ("status.phase=running", true),
        ("status.phase!=Pending", true),
        ("status.phase=Pending,spec.host=", false),
        ("spec.host=,status.phase=Running", true),
    ])
    func podFields(selector: String, expected: Bool) throws {
        let parsed = try FieldSelector.parse(selector, schema: Pod.fieldSchema)
        #expect(parsed.matches(pod().selectableFields) == expected, "\(selector)")
        // The server matches the pairs, without a dictionary: the same verdict.
        #expect(parsed.matches(pod().selectableFieldValues) == expected, "\(selector) on field values")
        #expect(parsed.matches(FieldValues(pod().selectableFields)) == expected, "\(selector) on values from a dictionary")
    }

    @Test("an unset phase counts as PENDING, and so does a selector naming UNSPECIFIED")
    func unsetPhase() throws {
        let selector = try FieldSelector.parse("status.phase=Pending", schema: Pod.fieldSchema)
        #expect(selector.matches(pod(phase: .unspecified).selectableFields))
        for text in ["status.phase=UNSPECIFIED", "status.phase=POD_PHASE_UNSPECIFIED"] {
            let unspecified = try FieldSelector.parse(text, schema: Pod.fieldSchema)
            #expect(unspecified.matches(pod(phase: .unspecified).selectableFieldValues), "\(text)")
            #expect(unspecified.matches(pod(phase: .pending).selectableFieldValues), "\(text)")
            #expect(!unspecified.matches(pod(phase: .running).selectableFieldValues), "\(text)")
        }
        let notUnspecified = try FieldSelector.parse("status.phase!=Unspecified", schema: Pod.fieldSchema)
        #expect(!notUnspecified.matches(pod(phase: .unspecified).selectableFieldValues))
    }

    @Test("minions select on spec.unschedulable, case-insensitively")
    func minionFields() throws {
        var minion = Minion()
        minion.metadata.name = "m1"
        minion.spec.unschedulable = true
        #expect(try FieldSelector.parse("spec.unschedulable=True", schema: Minion.fieldSchema).matches(minion.selectableFields))
        #expect(try !FieldSelector.parse("spec.unschedulable=false", schema: Minion.fieldSchema).matches(minion.selectableFields))
        #expect(try FieldSelector.parse("metadata.namespace=", schema: Minion.fieldSchema).matches(minion.selectableFields))
    }

    @Test("unknown fields, bad values and bad syntax report position and token", arguments: [
        ("spec.nodeName=x", 0, "spec.nodeName", "unknown field"),
        ("metadata.name=a,spec.unschedulable=true", 16, "spec.unschedulable", "unknown field"),
        ("status.phase=Sleeping", 13, "Sleeping", "POD_PHASE_RUNNING"),
        ("spec.host", 9, "", "expected \"=\""),
        ("spec.host in (a)", 10, "in", "expected \"=\""),
        ("spec.host=a b", 12, "b", "expected \",\" or the end"),
        ("=a", 0, "=", "expected a field name"),
    ])
    func errors(selector: String, position: Int, token: String, reason: String) {
        #expect {
            try FieldSelector.parse(selector, schema: Pod.fieldSchema)
        } throws: { error in
            guard let error = error as? SelectorError else { return false }
            return error.kind == .field && error.position == position && error.token == token && error.reason.contains(reason)
        }
    }

    @Test("a boolean field rejects other words")
    func badBool() {
        #expect(throws: SelectorError.self) { try FieldSelector.parse("spec.unschedulable=yes", schema: Minion.fieldSchema) }
    }

    @Test("required equality values are available for narrowing")
    func requiredValue() throws {
        let selector = try FieldSelector.parse("metadata.namespace=prod,spec.host!=m1", schema: Pod.fieldSchema)
        #expect(selector.requiredValue(of: "metadata.namespace") == "prod")
        #expect(selector.requiredValue(of: "spec.host") == nil)
    }
}
