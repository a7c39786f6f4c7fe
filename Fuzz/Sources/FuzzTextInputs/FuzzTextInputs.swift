// Fuzzes the text a client or user hands Capstan: label and field selectors (every kind's field
// schema), List continue tokens, capctl manifests and the metrics endpoint's HTTP/1 request
// heads; and stored objects' bytes as the watch cache reads their selector fields (the scan
// against a full decode). The first byte picks the reader, the rest is the input. Reading may fail with the
// reader's own error but must not crash; whatever reads must read back unchanged from its own
// canonical form (a manifest's objects from capctl's own json and yaml output).
import CapctlKit
import CapstanAPI
import CapstanAPIServer
import CapstanHTTP2

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTextInputs(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let text = String(decoding: input[1...], as: UTF8.self)
    switch input[0] % 9 {
    case 0: checkLabelSelector(text)
    case 1: checkFieldSelector(text, schema: Pod.fieldSchema)
    case 2: checkFieldSelector(text, schema: Minion.fieldSchema)
    case 3: checkFieldSelector(text, schema: Service.fieldSchema)
    case 4: checkFieldSelector(text, schema: ReplicationController.fieldSchema)
    case 5: ContinueTokenFuzzEntry.check(text)
    case 6: MetricsFuzzEntry.check(UnsafeRawBufferPointer(rebasing: input[1...]))
    case 7: SelectorScanFuzzEntry.check(kind: input.count > 1 ? input[1] : 0, Array(input.dropFirst(2)))
    default: ManifestFuzzEntry.check(text)
    }
    return 0
}

private func checkLabelSelector(_ text: String) {
    guard let selector = try? LabelSelector.parse(text) else { return }
    guard let again = try? LabelSelector.parse(selector.description), again == selector else {
        fatalError("label selector \(text) does not read back from its canonical form \(selector.description)")
    }
}

private func checkFieldSelector(_ text: String, schema: FieldSchema) {
    guard let selector = try? FieldSelector.parse(text, schema: schema) else { return }
    guard let again = try? FieldSelector.parse(selector.description, schema: schema), again == selector else {
        fatalError("field selector \(text) does not read back from its canonical form \(selector.description)")
    }
}
