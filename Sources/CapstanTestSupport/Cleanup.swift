/// Runs `body`, then `cleanup`, whether `body` returned or threw (a `defer` cannot `await`), and
/// returns what `body` returned.
public func withCleanup<T>(_ cleanup: () async -> Void, _ body: () async throws -> T) async throws -> T {
    let result: T
    do {
        result = try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
    return result
}
