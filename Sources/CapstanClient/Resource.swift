public import CapstanAPI
public import CapstanRPC
public import CapstanWire

/// An API kind a client can read and watch: its service's methods and how to take its lists
/// and events apart. `Minion`, `Pod`, `Service`, `ReplicationController` and `Endpoints`
/// conform; `ResourceClient` and `Informer` work with any conforming kind.
public protocol Resource: APIObject, WireMessage {
    /// `<Kind>List`.
    associatedtype List: WireMessage
    /// `<Kind>Event`.
    associatedtype Event: WireMessage

    /// The kind's plural name, for messages (`"pods"`).
    static var resourceName: String { get }
    static var getMethod: MethodDescriptor<GetRequest, Self> { get }
    static var listMethod: MethodDescriptor<ListRequest, List> { get }
    static var createMethod: MethodDescriptor<Self, Self> { get }
    static var deleteMethod: MethodDescriptor<DeleteRequest, Self> { get }
    static var watchMethod: MethodDescriptor<WatchRequest, Event> { get }

    /// A list page's items, the revision it reflects and the token of the next page ("" at the end).
    static func page(_ list: List) -> (items: [Self], resourceVersion: UInt64, continueToken: String)
    /// A watch event's type and object.
    static func change(_ event: Event) -> (type: EventType, object: Self)
}

/// A kind whose service has `Update` (every kind but `Minion`).
public protocol UpdatableResource: Resource {
    static var updateMethod: MethodDescriptor<Self, Self> { get }
}

extension Resource {
    /// The object's namespace and name: how caches and informers key objects.
    public var objectKey: ObjectKey { ObjectKey(namespace: metadata.namespace, name: metadata.name) }
}

/// The key of an object in a cache: its namespace (empty for cluster-scoped kinds) and name.
public struct ObjectKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String

    public init(namespace: String, name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// `namespace/name`, or `name` without a namespace.
    public var description: String { namespace.isEmpty ? name : "\(namespace)/\(name)" }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool {
        (a.namespace, a.name) < (b.namespace, b.name)
    }
}

extension Minion: Resource {
    public static let resourceName = "minions"
    public static var getMethod: MethodDescriptor<GetRequest, Minion> { Minions.Method.get }
    public static var listMethod: MethodDescriptor<ListRequest, MinionList> { Minions.Method.list }
    public static var createMethod: MethodDescriptor<Minion, Minion> { Minions.Method.create }
    public static var deleteMethod: MethodDescriptor<DeleteRequest, Minion> { Minions.Method.delete }
    public static var watchMethod: MethodDescriptor<WatchRequest, MinionEvent> { Minions.Method.watch }
    public static func page(_ list: MinionList) -> (items: [Minion], resourceVersion: UInt64, continueToken: String) {
        (list.items, list.resourceVersion, list.continueToken)
    }
    public static func change(_ event: MinionEvent) -> (type: EventType, object: Minion) { (event.type, event.object) }
}

extension Pod: UpdatableResource {
    public static let resourceName = "pods"
    public static var getMethod: MethodDescriptor<GetRequest, Pod> { Pods.Method.get }
    public static var listMethod: MethodDescriptor<ListRequest, PodList> { Pods.Method.list }
    public static var createMethod: MethodDescriptor<Pod, Pod> { Pods.Method.create }
    public static var updateMethod: MethodDescriptor<Pod, Pod> { Pods.Method.update }
    public static var deleteMethod: MethodDescriptor<DeleteRequest, Pod> { Pods.Method.delete }
    public static var watchMethod: MethodDescriptor<WatchRequest, PodEvent> { Pods.Method.watch }
    public static func page(_ list: PodList) -> (items: [Pod], resourceVersion: UInt64, continueToken: String) {
        (list.items, list.resourceVersion, list.continueToken)
    }
    public static func change(_ event: PodEvent) -> (type: EventType, object: Pod) { (event.type, event.object) }
}

extension Service: UpdatableResource {
    public static let resourceName = "services"
    public static var getMethod: MethodDescriptor<GetRequest, Service> { Services.Method.get }
    public static var listMethod: MethodDescriptor<ListRequest, ServiceList> { Services.Method.list }
    public static var createMethod: MethodDescriptor<Service, Service> { Services.Method.create }
    public static var updateMethod: MethodDescriptor<Service, Service> { Services.Method.update }
    public static var deleteMethod: MethodDescriptor<DeleteRequest, Service> { Services.Method.delete }
    public static var watchMethod: MethodDescriptor<WatchRequest, ServiceEvent> { Services.Method.watch }
    public static func page(_ list: ServiceList) -> (items: [Service], resourceVersion: UInt64, continueToken: String) {
        (list.items, list.resourceVersion, list.continueToken)
    }
    public static func change(_ event: ServiceEvent) -> (type: EventType, object: Service) { (event.type, event.object) }
}

extension ReplicationController: UpdatableResource {
    public static let resourceName = "replicationcontrollers"
    public static var getMethod: MethodDescriptor<GetRequest, ReplicationController> { ReplicationControllers.Method.get }
    public static var listMethod: MethodDescriptor<ListRequest, ReplicationControllerList> {
        ReplicationControllers.Method.list
    }
    public static var createMethod: MethodDescriptor<ReplicationController, ReplicationController> {
        ReplicationControllers.Method.create
    }
    public static var updateMethod: MethodDescriptor<ReplicationController, ReplicationController> {
        ReplicationControllers.Method.update
    }
    public static var deleteMethod: MethodDescriptor<DeleteRequest, ReplicationController> {
        ReplicationControllers.Method.delete
    }
    public static var watchMethod: MethodDescriptor<WatchRequest, ReplicationControllerEvent> {
        ReplicationControllers.Method.watch
    }
    public static func page(_ list: ReplicationControllerList)
        -> (items: [ReplicationController], resourceVersion: UInt64, continueToken: String)
    {
        (list.items, list.resourceVersion, list.continueToken)
    }
    public static func change(_ event: ReplicationControllerEvent) -> (type: EventType, object: ReplicationController) {
        (event.type, event.object)
    }
}

extension Endpoints: UpdatableResource {
    public static let resourceName = "endpoints"
    public static var getMethod: MethodDescriptor<GetRequest, Endpoints> { EndpointsRegistry.Method.get }
    public static var listMethod: MethodDescriptor<ListRequest, EndpointsList> { EndpointsRegistry.Method.list }
    public static var createMethod: MethodDescriptor<Endpoints, Endpoints> { EndpointsRegistry.Method.create }
    public static var updateMethod: MethodDescriptor<Endpoints, Endpoints> { EndpointsRegistry.Method.update }
    public static var deleteMethod: MethodDescriptor<DeleteRequest, Endpoints> { EndpointsRegistry.Method.delete }
    public static var watchMethod: MethodDescriptor<WatchRequest, EndpointsEvent> { EndpointsRegistry.Method.watch }
    public static func page(_ list: EndpointsList) -> (items: [Endpoints], resourceVersion: UInt64, continueToken: String) {
        (list.items, list.resourceVersion, list.continueToken)
    }
    public static func change(_ event: EndpointsEvent) -> (type: EventType, object: Endpoints) { (event.type, event.object) }
}
