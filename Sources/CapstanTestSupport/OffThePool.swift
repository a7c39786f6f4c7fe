import Dispatch

/// Runs blocking work (reading a child's pipes, waiting for it to exit) on a Dispatch thread, not
/// on one of Swift concurrency's few cooperative threads, which an in-process server and the
/// other tests need meanwhile.
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}
