import CapstanAPI
import CapstanRPC

/// Pods: Create starts with no status (its kubelet reports it) and Update keeps the stored one
/// (Pods/UpdateStatus changes it); Update may not change `spec.host` (Bindings/Create does).
enum PodStrategy: KindStrategy {
    typealias Object = Pod
    static let resource = "pods"
    static let kind = "pod"
    static let methods = KindMethods(
        create: Pods.Method.create, get: Pods.Method.get, list: Pods.Method.list, update: Pods.Method.update,
        delete: Pods.Method.delete, watch: Pods.Method.watch)

    /// `spec.host` (PodSpec field 5) and `status.phase` (PodStatus field 1).
    static let selectorScan = SelectorScan(extras: [
        .init(name: "spec.host", path: (2, 5), value: .string),
        .init(name: "status.phase", path: (3, 1), value: .podPhase),
    ])

    /// A status sent with Create is dropped: defaults then set the phase to PENDING.
    static func prepareForCreate(_ object: inout Pod) {
        if object.hasStatus { object.clearStatus() }
    }

    static func prepareForUpdate(_ new: inout Pod, old: Pod) throws(RegistryError) {
        if new.spec.host != old.spec.host {
            // Binding is the way onto a minion, once: a bound pod is not moved, it is replaced.
            let advice =
                old.spec.host.isEmpty
                ? "use Bindings/Create to place the pod on a minion"
                : "the pod is bound to minion \"\(old.spec.host)\" for its life: delete it and create it again to run it elsewhere"
            throw .fieldNotChangeable(
                kind: kind, namespace: old.metadata.namespace, name: old.metadata.name, field: "spec.host",
                verb: "Pods/Update", advice: advice)
        }
        new.status = old.status
    }

    /// UpdateStatus: the stored pod with the status of `new`.
    static func prepareForStatusUpdate(_ new: Pod, old: Pod) -> Pod {
        var result = old
        result.status = new.status
        return result
    }
}
