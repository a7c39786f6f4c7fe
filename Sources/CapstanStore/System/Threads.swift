internal import CLinux
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts a detached OS thread named `name` (its first 15 bytes) running `body`. The store's
/// blocking work (SQLite) runs on such threads, never on Swift's cooperative pool.
func startThread(name: String, _ body: sending @escaping () -> Void) {
    // Ownership: the box is retained here and released by the new thread when it starts; nothing
    // else touches it, so the non-Sendable closure moves to that thread whole.
    final class Box {
        let name: String
        let body: () -> Void
        init(name: String, body: @escaping () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        // The kernel keeps 15 bytes of a thread's name (what `top -H` and `perf` show).
        _ = CLinux_set_thread_name(String(box.name.utf8.prefix(15)) ?? "capstan-store")
        box.body()
        return nil
    }, box)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
}

/// A counting wake-up signal for parking an OS thread: `signal()` adds a permit, `wait` takes one,
/// sleeping until one arrives or the timeout (measured on CLOCK_MONOTONIC) passes.
///
/// Data lives elsewhere, under `Mutex`es; this only parks and wakes threads.
final class ThreadSignal: @unchecked Sendable {
    // Proof of Sendable: `mutex` and `condition` are allocated once, initialised in init and
    // destroyed in deinit; `permits` is only read and written while `mutex` is held.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    private var permits = 0

    init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        permits += 1
        pthread_mutex_unlock(mutex)
        pthread_cond_signal(condition)
    }

    /// Takes a permit, waiting at most `timeout` (forever when nil). Returns whether it got one.
    @discardableResult
    func wait(timeout: Duration?) -> Bool {
        var deadline = timespec()
        if let timeout {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let (seconds, attoseconds) = max(timeout, .zero).components
            let nanoseconds = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
            deadline.tv_sec += Int(min(seconds, 1 << 40)) + nanoseconds / 1_000_000_000
            deadline.tv_nsec = nanoseconds % 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        // Spurious wake-ups loop; each pass either takes a permit or re-checks the deadline.
        while permits == 0 {
            let result =
                timeout == nil ? pthread_cond_wait(condition, mutex) : pthread_cond_timedwait(condition, mutex, &deadline)
            if result == ETIMEDOUT { break }
        }
        guard permits > 0 else { return false }
        permits -= 1
        return true
    }
}

/// CPU time (user and system) the calling thread has used so far, in nanoseconds.
func currentThreadCPUNanoseconds() -> Int {
    cpuNanoseconds(clock: CLOCK_THREAD_CPUTIME_ID) ?? 0
}

/// The clock of the calling thread's CPU time, which other threads can read (`cpuNanoseconds(clock:)`)
/// while this thread lives.
func currentThreadCPUClock() -> clockid_t? {
    var clock = clockid_t()
    return pthread_getcpuclockid(pthread_self(), &clock) == 0 ? clock : nil
}

/// The time of `clock` in nanoseconds; nil when it cannot be read (a thread's clock, once it ended).
func cpuNanoseconds(clock: clockid_t) -> Int? {
    var time = timespec()
    guard clock_gettime(clock, &time) == 0 else { return nil }
    return Int(time.tv_sec) * 1_000_000_000 + Int(time.tv_nsec)
}

/// One thread's CPU time as other threads see it: read from the thread's CPU clock while it runs
/// (no cost to the thread), the final figure once it has ended.
final class ThreadCPUTime: Sendable {
    private struct State {
        var clock: clockid_t?
        var final = 0
    }

    private let state = Mutex(State())

    /// Called by the thread when it starts, with `currentThreadCPUClock()`.
    func started(clock: clockid_t?) {
        state.withLock { $0.clock = clock }
    }

    /// Called by the thread as it ends, with its CPU time.
    func finished(nanoseconds: Int) {
        state.withLock { $0 = State(clock: nil, final: nanoseconds) }
    }

    /// CPU time the thread has used so far (0 before it started).
    var nanoseconds: Int {
        // Under the lock, so the thread cannot end (and its clock's id be reused) meanwhile.
        state.withLock { state in state.clock.flatMap { cpuNanoseconds(clock: $0) } ?? state.final }
    }
}
