import CapstanAPI
import CapstanRPC

/// Minions: the generic methods, ReportStatus, and a fixed UNIMPLEMENTED answer for Update.
struct MinionService: Sendable {
    let registry: Registry<MinionStrategy>

    func register(on router: inout RPCRouter) {
        KindService(registry: registry).register(on: &router)
        router.answer(
            path: "/\(Minions.serviceName)/Update",
            with: RegistryError.unsupported(reason: MinionStrategy.updateUnsupported).rpcError)
        let registry = registry
        router.unaryEncoded(Minions.Method.reportStatus) { report, _ in
            let name = try registry.requireName(report.name, field: "name", namespace: "")
            return try await registry.update(namespace: "", name: name, expected: 0, uid: "") { (old) throws(RegistryError) in
                var new = old
                new.status = report.status
                try registry.validate(new)
                return new
            }.encoded
        }
    }
}
