/// A bounded wait that gave up: what was awaited.
public struct TestTimeout: Error, CustomStringConvertible {
    public let what: String

    public init(what: String) {
        self.what = what
    }

    public var description: String { "gave up waiting for \(what)" }
}

/// Runs `body`, failing with `TestTimeout` after `seconds` — a bound that keeps a broken client
/// or server from hanging a test suite, never meant to fire on a working one. `body` is
/// cancelled when the bound fires.
public func bounded<T: Sendable>(
    _ what: String, seconds: Int = 60, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TestTimeout(what: what) }
        return value
    }
}
