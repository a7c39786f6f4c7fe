public import CapstanWire

extension RPCRouter {
    /// Registers the standard services every Capstan server answers: `grpc.health.v1.Health`
    /// served by `health`, and server reflection in both `grpc.reflection.v1alpha` and
    /// `grpc.reflection.v1` over `descriptors`.
    ///
    /// Call it **after** registering the application's services: reflection's `list_services`
    /// reports the services registered at this point (plus health and reflection themselves);
    /// services registered later are served but not listed.
    ///
    /// - Returns: the reflection service, whose `services` is what `list_services` reports.
    @discardableResult
    public mutating func addStandardServices(health: HealthService, descriptors: [ProtoFileDescriptor]) -> ReflectionService {
        health.register(on: &self)
        let reflection = ReflectionService(
            services: services.map(\.name) + ReflectionService.serviceNames, descriptors: descriptors)
        reflection.register(on: &self)
        return reflection
    }
}
