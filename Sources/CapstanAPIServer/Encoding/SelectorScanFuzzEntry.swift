import CapstanAPI
import CapstanWire

/// The selector scan's entry for the fuzz target (`Fuzz/`): stored bytes may come from any
/// writer of a shared etcd.
public enum SelectorScanFuzzEntry {
    /// Reads `bytes` as a pod, a minion or a service (by `kind` modulo 3) both ways. Where the
    /// scan answers and the object decodes, they must agree; an object that decodes must scan,
    /// re-encoded, to what its decode gives. Traps on a broken property.
    public static func check(kind: UInt8, _ bytes: [UInt8]) {
        switch kind % 3 {
        case 0: check(PodStrategy.self, bytes)
        case 1: check(MinionStrategy.self, bytes)
        default: check(ServiceStrategy.self, bytes)
        }
    }

    static func check<Strategy: KindStrategy>(_ strategy: Strategy.Type, _ bytes: [UInt8]) {
        let scanned = Strategy.selectorScan.fields(bytes)
        guard let object = try? Strategy.Object(serializedBytes: bytes) else { return }
        let decoded = SelectorFields(of: object)
        if let scanned {
            precondition(scanned == decoded, "\(Strategy.kind): scanned \(scanned), decoded \(decoded)")
        }
        if let pod = object as? Pod, case .unrecognized = pod.status.phase { return }
        let again = Strategy.selectorScan.fields(object.serializedBytes())
        precondition(again == decoded, "\(Strategy.kind): its own encoding scans to \(String(describing: again))")
    }
}
