import CapstanAPI

/// Small valid objects for the API tests.
enum Make {
    static func minion(_ name: String) -> Minion {
        var minion = Minion()
        minion.metadata.name = name
        minion.spec.address = "10.0.0.1"
        minion.spec.kubeletPort = 10250
        return minion
    }

    static func pod(
        _ name: String, namespace: String = "", labels: [String: String] = [:], host: String = "", hostPort: Int32 = 0
    ) -> Pod {
        var pod = Pod()
        pod.metadata.name = name
        pod.metadata.namespace = namespace
        pod.metadata.labels = labels
        pod.spec.host = host
        var container = Container()
        container.name = "app"
        container.image = "busybox"
        var port = ContainerPort()
        port.containerPort = 80
        port.hostPort = hostPort
        container.ports = [port]
        pod.spec.containers = [container]
        return pod
    }

    static func service(_ name: String, port: Int32, protocol proto: Protocol = .unspecified, namespace: String = "") -> Service {
        var service = Service()
        service.metadata.name = name
        service.metadata.namespace = namespace
        service.spec.port = port
        service.spec.protocol = proto
        service.spec.selector = ["app": name]
        return service
    }

    static func controller(_ name: String, replicas: Int32 = 2) -> ReplicationController {
        var controller = ReplicationController()
        controller.metadata.name = name
        controller.spec.replicas = replicas
        controller.spec.selector = ["app": name]
        controller.spec.template.metadata.labels = ["app": name]
        controller.spec.template.spec.containers = [pod("x").spec.containers[0]]
        return controller
    }

    static func endpoints(_ name: String, _ addresses: [String]) -> Endpoints {
        var endpoints = Endpoints()
        endpoints.metadata.name = name
        endpoints.endpoints = addresses
        return endpoints
    }

    static func get(_ name: String, namespace: String = "") -> GetRequest {
        var request = GetRequest()
        request.name = name
        request.namespace = namespace
        return request
    }

    static func delete(_ name: String, namespace: String = "", precondition: UInt64 = 0) -> DeleteRequest {
        var request = DeleteRequest()
        request.name = name
        request.namespace = namespace
        request.preconditionResourceVersion = precondition
        return request
    }

    static func list(
        namespace: String = "", labels: String = "", fields: String = "", limit: Int64 = 0, continueToken: String = ""
    ) -> ListRequest {
        var request = ListRequest()
        request.namespace = namespace
        request.labelSelector = labels
        request.fieldSelector = fields
        request.limit = limit
        request.continueToken = continueToken
        return request
    }

    static func watch(
        namespace: String = "", labels: String = "", fields: String = "", from revision: UInt64 = 0,
        initial: Bool = false, bookmarks: Bool = false
    ) -> WatchRequest {
        var request = WatchRequest()
        request.namespace = namespace
        request.labelSelector = labels
        request.fieldSelector = fields
        request.resourceVersion = revision
        request.sendInitialEvents = initial
        request.allowBookmarks = bookmarks
        return request
    }
}
