import CapstanStore
import CapstanTestSupport
import Testing

extension StoreConformance {
    /// Creates and updates that require other keys to be unchanged: written only while they are,
    /// otherwise the first failed check is reported and nothing is written.
    static func conditionalWrites(_ store: any Store) async throws {
        let guardCreated = try await store.create("/c/minion", value: bytes("m"))
        let target = try await store.create("/c/pod", value: bytes("p1"))
        let minion = KeyRevision(key: "/c/minion", modRevision: guardCreated)

        // Unchanged: both writes go through.
        let updated = try await store.update(
            "/c/pod", value: bytes("p2"), expectedRevision: target, unchanged: [minion])
        #expect(updated == target + 1)
        let created = try await store.create("/c/other", value: bytes("o"), lease: 0, unchanged: [minion])
        #expect(created == updated + 1)

        // The key's own check is reported first.
        #expect(
            await storeError {
                _ = try await store.create(
                    "/c/pod", value: [], lease: 0, unchanged: [KeyRevision(key: "/c/none", modRevision: 1)])
            } == .alreadyExists(key: "/c/pod"))
        #expect(
            await storeError {
                _ = try await store.update("/c/pod", value: [], expectedRevision: target, unchanged: [minion])
            } == .conflict(key: "/c/pod", currentRevision: updated))
        #expect(
            await storeError {
                _ = try await store.update("/c/gone", value: [], expectedRevision: 0, unchanged: [minion])
            } == .notFound(key: "/c/gone"))

        // The required key modified: `conflict` naming it, with its current revision.
        let reported = try await store.update("/c/minion", value: bytes("m2"), expectedRevision: 0)
        let before = try await store.currentRevision()
        #expect(
            await storeError {
                _ = try await store.update("/c/pod", value: bytes("p3"), expectedRevision: updated, unchanged: [minion])
            } == .conflict(key: "/c/minion", currentRevision: reported))
        #expect(
            await storeError {
                _ = try await store.create("/c/new", value: [], lease: 0, unchanged: [minion])
            } == .conflict(key: "/c/minion", currentRevision: reported))
        // Every key is checked, in order: the first that fails is named.
        let both = [KeyRevision(key: "/c/minion", modRevision: reported), KeyRevision(key: "/c/other", modRevision: 1)]
        #expect(
            await storeError { _ = try await store.create("/c/new", value: [], lease: 0, unchanged: both) }
                == .conflict(key: "/c/other", currentRevision: created))

        // The required key deleted: `notFound` naming it.
        let deleted = try await store.delete("/c/minion", expectedRevision: 0)
        let current = KeyRevision(key: "/c/minion", modRevision: reported)
        #expect(
            await storeError {
                _ = try await store.update(
                    "/c/pod", value: bytes("p3"), expectedRevision: updated, unchanged: [current])
            } == .notFound(key: "/c/minion"))
        #expect(
            await storeError { _ = try await store.create("/c/new", value: [], lease: 0, unchanged: [current]) }
                == .notFound(key: "/c/minion"))

        // Nothing of the failed writes was stored.
        #expect(try await store.currentRevision() == deleted.modRevision)
        #expect(deleted.modRevision == before + 1)
        #expect(
            try await store.get("/c/pod")
                == KeyValue(key: "/c/pod", value: bytes("p2"), createRevision: target, modRevision: updated))
        #expect(await storeError { _ = try await store.get("/c/new") } == .notFound(key: "/c/new"))

        // A required revision must be a real one.
        for revision: Int64 in [0, -1] {
            let zero = [KeyRevision(key: "/c/pod", modRevision: revision)]
            if case .invalid? = await storeError({
                _ = try await store.create("/c/x", value: [], lease: 0, unchanged: zero)
            }) {
            } else {
                Issue.record("a required revision of \(revision) must be invalid")
            }
        }
    }

    /// A write that requires a key unchanged, racing that key's delete: when both succeed, the write
    /// came first, so no write is ever stored while the key it required was gone.
    static func conditionalWriteRacingDelete(_ store: any Store) async throws {
        for round in 0..<40 {
            let minionRevision = try await store.create("/r/minion\(round)", value: bytes("m"))
            let target = try await store.create("/r/pod\(round)", value: bytes("unbound"))
            let minion = KeyRevision(key: "/r/minion\(round)", modRevision: minionRevision)
            async let bind: Result<Int64, StoreError> = {
                do throws(StoreError) {
                    return .success(
                        try await store.update(
                            "/r/pod\(round)", value: bytes("bound"), expectedRevision: target, unchanged: [minion]))
                } catch {
                    return .failure(error)
                }
            }()
            async let delete = store.delete("/r/minion\(round)", expectedRevision: 0)
            let (bound, deleted) = try await (bind, delete)
            switch bound {
            case .success(let revision):
                #expect(
                    revision < deleted.modRevision,
                    "round \(round): bound at \(revision) after the delete at \(deleted.modRevision)")
            case .failure(let error):
                #expect(error == .notFound(key: "/r/minion\(round)"), "round \(round)")
                #expect(try await store.get("/r/pod\(round)").value == bytes("unbound"))
            }
        }
    }
}
