@testable import CapstanAPIServer
import CapstanTestSupport
import Testing

/// Read-your-writes bookkeeping: what lets a Get answer at once (`hasReachedWrites`) and what
/// makes it wait.
@Suite("Cache progress")
struct CacheProgressTests {
    @Test("reads need no wait only once the caches reached every acknowledged write")
    func reachedWrites() async throws {
        let progress = CacheProgress()
        // Before the caches first listed the store, every read waits.
        #expect(!progress.hasReachedWrites)
        progress.advance(to: 5)
        #expect(progress.hasReachedWrites)
        progress.noteWrite(7)
        #expect(!progress.hasReachedWrites)
        progress.advance(to: 6)
        #expect(!progress.hasReachedWrites)
        // A waiting read resumes once the write is reached, and so does the immediate check.
        let waiting = Task { try await progress.waitForWrites(timeout: .seconds(30)) }
        progress.advance(to: 7)
        try await waiting.value
        #expect(progress.hasReachedWrites)
        // An older write noted late changes nothing.
        progress.noteWrite(3)
        #expect(progress.hasReachedWrites)
    }

    @Test("a store that went back lowers the write mark to its head; later writes raise it again")
    func forgottenWrites() {
        let progress = CacheProgress()
        progress.advance(to: 3)
        // Acknowledged, not applied yet, and then lost with the store's history.
        progress.noteWrite(6)
        #expect(!progress.hasReachedWrites)
        progress.forgetWrites(above: 3)
        #expect(progress.writeMark == 3)
        #expect(progress.hasReachedWrites)
        // It only lowers the mark.
        progress.forgetWrites(above: 9)
        #expect(progress.writeMark == 3)
        progress.noteWrite(4)
        #expect(!progress.hasReachedWrites)
        progress.advance(to: 4)
        #expect(progress.hasReachedWrites)
    }

    @Test("reads waiting for revisions the store lost end at once, not at their timeout", .timeLimit(.minutes(1)))
    func lostWaits() async throws {
        let progress = CacheProgress()
        progress.advance(to: 3)
        progress.noteWrite(6)
        let forWrites = Task { try await progress.waitForWrites(timeout: .seconds(90)) }
        let forFour = Task { try await progress.wait(for: 4, timeout: .seconds(90)) }
        #expect(await eventually { progress.waitingReads == 2 })
        // Restored at 5: revision 6 is lost, 4 is still in the store's history.
        progress.forgetWrites(above: 5)
        let error = await #expect(throws: RegistryError.self) { try await forWrites.value }
        if case .unavailable(let reason)? = error {
            #expect(reason.contains("went back before resource version 6"), "\(reason)")
        }
        #expect(progress.waitingReads == 1)
        progress.advance(to: 4)
        try await forFour.value
        // A store that went back before the revision reached: every wait is for a lost revision.
        let forNine = Task { try await progress.wait(for: 9, timeout: .seconds(90)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.restart()
        await #expect(throws: RegistryError.self) { try await forNine.value }
        // After the relisting, reads wait for the new history's revisions again.
        let forTwo = Task { try await progress.wait(for: 2, timeout: .seconds(90)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.advance(to: 2)
        try await forTwo.value
    }

    @Test("a cancelled read stops waiting at once, not at its timeout")
    func cancelledWait() async throws {
        let progress = CacheProgress()
        progress.advance(to: 5)
        let started = ContinuousClock.now
        let waiting = Task { try await progress.wait(for: 9, timeout: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        await #expect(throws: RegistryError.self) { try await waiting.value }
        #expect(started.duration(to: .now) < .seconds(30), "the wait ran to its timeout")
        // A read cancelled before it waits does not wait either.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await progress.wait(for: 9, timeout: .seconds(60))
        }
        await #expect(throws: RegistryError.self) { try await early.value }
        // The caches still move on and later reads are served.
        progress.advance(to: 9)
        try await progress.wait(for: 9, timeout: .seconds(1))
    }

    @Test("while the store probe fails, reads that would wait for a write end at once; reads the caches can answer are served", .timeLimit(.minutes(1)))
    func storeProbeFailure() async throws {
        let progress = CacheProgress()
        progress.advance(to: 5)
        // A write acknowledged at 7 whose change never reached the caches (etcd died first).
        progress.noteWrite(7)
        let waiting = Task { try await progress.waitForWrites(timeout: .seconds(60)) }
        let startUp = Task { try await progress.waitForWrites(timeout: .seconds(60), patience: .startUp) }
        #expect(await eventually { progress.waitingReads == 2 })
        progress.storeProbeFailed("etcd: no target is reachable")
        let started = ContinuousClock.now
        let error = await #expect(throws: RegistryError.self) { try await waiting.value }
        if case .unavailable(let reason)? = error {
            #expect(reason.contains("no target is reachable") && reason.contains("resource version 7"), "\(reason)")
        } else {
            Issue.record("not unavailable: \(String(describing: error))")
        }
        // New reads that would wait fail at once; those the caches can answer are served.
        await #expect(throws: RegistryError.self) { try await progress.waitForWrites(timeout: .seconds(60)) }
        #expect(started.duration(to: .now) < .seconds(30), "a read waited")
        try await progress.wait(for: 5, timeout: .seconds(1))
        #expect(progress.waitingReads == 1, "the start-up wait goes on")
        // The store answers again: reads wait for the write as usual, and get it.
        progress.storeProbeSucceeded()
        let again = Task { try await progress.waitForWrites(timeout: .seconds(60)) }
        #expect(await eventually { progress.waitingReads == 2 })
        progress.advance(to: 7)
        try await again.value
        try await startUp.value
        // A write the store acknowledged shows it works before the next probe does; so do
        // events the caches apply.
        progress.storeProbeFailed("etcd: no target is reachable")
        progress.noteWrite(8)
        let afterWrite = Task { try await progress.waitForWrites(timeout: .seconds(60)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.advance(to: 8)
        try await afterWrite.value
        progress.storeProbeFailed("etcd: no target is reachable")
        progress.advance(to: 9)
        let afterEvents = Task { try await progress.wait(for: 10, timeout: .seconds(60)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.advance(to: 10)
        try await afterEvents.value
        // Until then, writes that read the store are refused with the probe's finding.
        progress.storeProbeFailed("etcd: down")
        #expect(progress.storeProbeFailure == "etcd: down")
        progress.noteWrite(11)
        #expect(progress.storeProbeFailure == nil)
    }

    @Test("before the first listing, reads wait through failures for a while, then fail at once until a listing", .timeLimit(.minutes(1)))
    func unreachableStore() async throws {
        let progress = CacheProgress(unreachableAfter: .seconds(30))
        let read = Task { try await progress.wait(for: 0, timeout: .seconds(60)) }
        let startUp = Task { try await progress.wait(for: 0, timeout: .seconds(60), patience: .startUp) }
        #expect(await eventually { progress.waitingReads == 2 })
        // A failed attempt that began just now (a blip): reads go on waiting.
        progress.attemptFailed("store unavailable: blip", started: .now)
        #expect(progress.unreachableReason == nil)
        #expect(progress.waitingReads == 2)
        // An attempt that fails with the feed trying for longer than the bound: the waiting read
        // ends with the store's error, the start-up wait goes on.
        progress.attemptFailed("store unavailable: no etcd", started: .now - .seconds(31))
        let error = await #expect(throws: RegistryError.self) { try await read.value }
        if case .unavailable(let reason)? = error {
            #expect(reason.contains("no etcd") && reason.contains("cannot be reached"), "\(reason)")
        } else {
            Issue.record("not unavailable: \(String(describing: error))")
        }
        #expect(progress.unreachableReason == "store unavailable: no etcd")
        // New reads fail at once (with the latest error), however long their timeout.
        progress.attemptFailed("store unavailable: still no etcd", started: .now)
        let started = ContinuousClock.now
        await #expect(throws: RegistryError.self) { try await progress.wait(for: 0, timeout: .seconds(60)) }
        #expect(started.duration(to: .now) < .seconds(30), "the read waited")
        #expect(progress.waitingReads == 1)
        // A listing: the start-up wait ends, reads are served again.
        progress.advance(to: 3)
        try await startUp.value
        try await progress.wait(for: 3, timeout: .seconds(1))
        #expect(progress.unreachableReason == nil)
        // Once listed, failures are the caches' to report: reads waiting for writes wait on.
        progress.noteWrite(5)
        let forWrites = Task { try await progress.waitForWrites(timeout: .seconds(60)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.attemptFailed("store unavailable: gone again", started: .now - .seconds(31))
        #expect(progress.unreachableReason == nil)
        progress.advance(to: 5)
        try await forWrites.value
        // A store that went back is listed anew: a new run of failures counts from its start.
        progress.restart()
        progress.attemptFailed("store unavailable: restored", started: .now)
        let relisting = Task { try await progress.wait(for: 0, timeout: .seconds(60)) }
        #expect(await eventually { progress.waitingReads == 1 })
        progress.advance(to: 2)
        try await relisting.value
    }
}
