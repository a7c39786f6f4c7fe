import CapstanWire

/// The manifest reader's entry for the fuzz target (`Fuzz/`): manifests are untrusted text.
public enum ManifestFuzzEntry {
    /// Reads `text` as a manifest. A failure must be a manifest error naming the source. Every
    /// object read must read back unchanged from what `capctl get -o json` and `-o yaml` print for
    /// it, so output capctl writes is always input it accepts. Traps on a broken property.
    public static func check(_ text: String) {
        let objects: [ManifestObject]
        do {
            objects = try Manifest.parse(text, source: "fuzz.yaml")
        } catch {
            guard case .manifest(let message) = error, message.hasPrefix("fuzz.yaml") else {
                fatalError("a manifest failed with \(error), not a manifest error naming its file")
            }
            return
        }
        precondition(!objects.isEmpty, "a manifest read without error has objects")
        for object in objects { checkPrinted(object.object) }
    }

    private static func checkPrinted<R: CLIResource>(_ object: R) {
        // Values without a JSON form (a timestamp past year 9999) cannot be printed; that is allowed.
        guard let value = try? manifestValue(object) else { return }
        for (format, printed) in [("json", value.prettyText), ("yaml", YAMLWriter.document(value))] {
            let again: [ManifestObject]
            do {
                again = try Manifest.parse(printed, source: "printed.\(format)")
            } catch {
                fatalError("capctl's own \(format) for a \(R.kind.name) does not read back: \(error)\n\(printed)")
            }
            guard again.count == 1, let read = again[0].object as? R, read.serializedBytes() == object.serializedBytes()
            else {
                fatalError("a \(R.kind.name) changed on the way through its \(format):\n\(printed)")
            }
        }
    }
}
