@testable import CapstanAPIServer
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
}
