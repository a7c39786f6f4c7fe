import CapstanAPI
import CapstanRPC

/// Minions: created and deleted, never updated; ReportStatus replaces the status.
enum MinionStrategy: KindStrategy {
    typealias Object = Minion
    static let resource = "minions"
    static let kind = "minion"
    static let methods = KindMethods(
        create: Minions.Method.create, get: Minions.Method.get, list: Minions.Method.list, update: nil,
        delete: Minions.Method.delete, watch: Minions.Method.watch)

    /// Why `Minions/Update` is not served.
    static let updateUnsupported = "minions cannot be updated: delete and re-create"

    /// `spec.unschedulable` (MinionSpec field 4).
    static let selectorScan = SelectorScan(extras: [.init(name: "spec.unschedulable", path: (2, 4), value: .bool)])
}

/// Services: Update may change everything but server-set metadata; the port claim is handled
/// by `ServiceRegistry`.
enum ServiceStrategy: KindStrategy {
    typealias Object = Service
    static let resource = "services"
    static let kind = "service"
    static let methods = KindMethods(
        create: Services.Method.create, get: Services.Method.get, list: Services.Method.list,
        update: Services.Method.update, delete: Services.Method.delete, watch: Services.Method.watch)
}

/// Replication controllers: Create starts with no status (no pods observed yet); Update changes
/// spec and status (the controller manager reports the observed count through it).
enum ReplicationControllerStrategy: KindStrategy {
    typealias Object = ReplicationController
    static let resource = "replicationcontrollers"
    static let kind = "replication controller"
    static let methods = KindMethods(
        create: ReplicationControllers.Method.create, get: ReplicationControllers.Method.get,
        list: ReplicationControllers.Method.list, update: ReplicationControllers.Method.update,
        delete: ReplicationControllers.Method.delete, watch: ReplicationControllers.Method.watch)

    static func prepareForCreate(_ object: inout ReplicationController) {
        if object.hasStatus { object.clearStatus() }
    }
}

/// Endpoints: named after their service; Update replaces the list.
enum EndpointsStrategy: KindStrategy {
    typealias Object = Endpoints
    static let resource = "endpoints"
    static let kind = "endpoints"
    static let methods = KindMethods(
        create: EndpointsRegistry.Method.create, get: EndpointsRegistry.Method.get,
        list: EndpointsRegistry.Method.list, update: EndpointsRegistry.Method.update,
        delete: EndpointsRegistry.Method.delete, watch: EndpointsRegistry.Method.watch)
}
