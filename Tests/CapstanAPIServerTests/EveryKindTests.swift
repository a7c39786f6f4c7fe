import CapstanAPI
import CapstanRPC
import Testing

/// Create, Get, List, Delete and Watch of every kind other than pods (which `PodTests` covers),
/// through the typed clients.
@Suite("Every kind")
struct EveryKindTests {
    /// Watches with initial events, creates, reads, lists and deletes one object, and checks the
    /// watch saw ADDED then DELETED with the revisions the writes returned.
    func roundTrip<Object: APIObject, Event: Sendable>(
        watch: () async throws -> WatchReader<Event>,
        type: (Event) -> EventType, object: (Event) -> Object,
        create: () async throws -> Object, get: () async throws -> Object, list: () async throws -> [Object],
        delete: () async throws -> Object
    ) async throws {
        let events = try await watch()
        #expect(try await events.next().map(type) == .bookmark)
        let created = try await create()
        #expect(try await get() == created)
        #expect(try await list() == [created])
        let deleted = try await delete()
        #expect(deleted.metadata.resourceVersion > created.metadata.resourceVersion)
        let added = try #require(try await events.next())
        #expect(type(added) == .added && object(added) == created)
        let removed = try #require(try await events.next())
        #expect(type(removed) == .deleted && object(removed) == deleted)
        #expect(try await list().isEmpty)
    }

    @Test("minions")
    func minions() async throws {
        try await withAPIServer { api, _ in
            try await roundTrip(
                watch: { WatchReader(try await api.minions.watch(Make.watch(initial: true))) }, type: \.type, object: \.object,
                create: { try await api.minions.create(Make.minion("m1")) }, get: { try await api.minions.get(Make.get("m1")) },
                list: { try await api.minions.list(Make.list()).items }, delete: { try await api.minions.delete(Make.delete("m1")) })
        }
    }

    @Test("services")
    func services() async throws {
        try await withAPIServer { api, _ in
            try await roundTrip(
                watch: { WatchReader(try await api.services.watch(Make.watch(initial: true))) }, type: \.type, object: \.object,
                create: { try await api.services.create(Make.service("web", port: 80)) },
                get: { try await api.services.get(Make.get("web")) },
                list: { try await api.services.list(Make.list()).items }, delete: { try await api.services.delete(Make.delete("web")) })
        }
    }

    @Test("replication controllers")
    func controllers() async throws {
        try await withAPIServer { api, _ in
            try await roundTrip(
                watch: { WatchReader(try await api.controllers.watch(Make.watch(initial: true))) }, type: \.type, object: \.object,
                create: { try await api.controllers.create(Make.controller("web")) },
                get: { try await api.controllers.get(Make.get("web")) },
                list: { try await api.controllers.list(Make.list()).items },
                delete: { try await api.controllers.delete(Make.delete("web")) })
        }
    }

    @Test("endpoints")
    func endpoints() async throws {
        try await withAPIServer { api, _ in
            try await roundTrip(
                watch: { WatchReader(try await api.endpoints.watch(Make.watch(initial: true))) }, type: \.type, object: \.object,
                create: { try await api.endpoints.create(Make.endpoints("web", ["10.0.0.1:80"])) },
                get: { try await api.endpoints.get(Make.get("web")) },
                list: { try await api.endpoints.list(Make.list()).items },
                delete: { try await api.endpoints.delete(Make.delete("web")) })
        }
    }
}
