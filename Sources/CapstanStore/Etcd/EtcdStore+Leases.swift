import CapstanAPI
import CapstanRPC

extension EtcdStore {
    public func grantLease(ttl: Duration) async throws(StoreError) -> Int64 {
        guard ttl > .zero else { throw .invalid(reason: "a lease needs a positive TTL") }
        var request = Etcdserverpb_LeaseGrantRequest()
        // etcd counts whole seconds: round up, so a lease never expires earlier than asked.
        let (seconds, attoseconds) = ttl.components
        request.TTL = seconds + (attoseconds > 0 ? 1 : 0)
        let client = leaseClient
        let response = try await perform { [request] in try await client.leaseGrant(request) }
        guard response.error.isEmpty, response.ID > 0 else {
            throw .unavailable(reason: "etcd did not grant the lease: \(response.error)")
        }
        return response.ID
    }

    public func keepAlive(_ lease: Int64) async throws(StoreError) -> Duration {
        try checkOpen()
        guard lease > 0 else { throw .notFound(key: leaseKey(lease)) }
        let ttl = try await keeper.keepAlive(lease)
        guard ttl > 0 else { throw .notFound(key: leaseKey(lease)) }
        return .seconds(ttl)
    }

    /// Deletes the lease's keys one by one (each its own revision, as `Store` promises; etcd's own
    /// revoke would delete them all at one revision), each only while still attached to the lease,
    /// then revokes the lease (deleting any key attached meanwhile).
    public func revokeLease(_ lease: Int64) async throws(StoreError) {
        try checkOpen()
        guard lease > 0 else { throw .notFound(key: leaseKey(lease)) }
        var lookup = Etcdserverpb_LeaseTimeToLiveRequest()
        lookup.ID = lease
        lookup.keys = true
        let attached = try await performRead(leaseID: lease) { [lookup] rpc in
            try await Etcdserverpb_Lease.Client(rpc).leaseTimeToLive(lookup)
        }
        guard attached.TTL >= 0 else { throw .notFound(key: leaseKey(lease)) }
        let kv = kv
        for key in attached.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var delete = Etcdserverpb_DeleteRangeRequest()
            delete.key = key
            var request = Etcdserverpb_TxnRequest()
            request.compare = [Self.compare(key, .lease, .equal, lease)]
            request.success = [Etcdserverpb_RequestOp(delete)]
            _ = try await perform(leaseID: lease) { [request] in try await kv.txn(request) }
        }
        var revoke = Etcdserverpb_LeaseRevokeRequest()
        revoke.ID = lease
        let client = leaseClient
        do {
            _ = try await perform(leaseID: lease) { [revoke] in try await client.leaseRevoke(revoke) }
        } catch .notFound {
            // It expired meanwhile: etcd deleted what was left, which is what revoking does.
        }
    }
}
