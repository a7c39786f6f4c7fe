import CapstanAPI
import CapstanRPC

/// Pods: Update may not change `spec.host` (Bindings/Create does) and keeps the stored status
/// (Pods/UpdateStatus changes it).
enum PodStrategy: KindStrategy {
    typealias Object = Pod
    static let resource = "pods"
    static let kind = "pod"
    static let methods = KindMethods(
        create: Pods.Method.create, get: Pods.Method.get, list: Pods.Method.list, update: Pods.Method.update,
        delete: Pods.Method.delete, watch: Pods.Method.watch)

    static func prepareForUpdate(_ new: inout Pod, old: Pod) throws(RegistryError) {
        if new.spec.host != old.spec.host {
            throw .fieldNotChangeable(kind: kind, field: "spec.host", verb: "Pods/Update", allowedBy: "Bindings/Create")
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
