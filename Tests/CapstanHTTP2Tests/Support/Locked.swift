import Synchronization

/// A value behind a lock, shareable between tasks and threads.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// A thread-safe counter.
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    @discardableResult
    func increment(by amount: Int = 1) -> Int { atomic.add(amount, ordering: .relaxed).newValue }
    var value: Int { atomic.load(ordering: .relaxed) }
}
