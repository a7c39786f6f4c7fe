import Synchronization

/// Something registered with a loop for socket readiness. Called on the loop thread only.
protocol IOHandler: AnyObject {
    /// The descriptor is readable, writable, or failed (error or hang-up: read to learn more).
    func ioReady(readable: Bool, writable: Bool, failed: Bool)
    /// The loop is stopping with this handler still registered: release the descriptor.
    func loopWillClose()
}

/// One thread, one epoll instance, an eventfd to wake it, a locked queue of work submitted from
/// other threads, and a heap of timers.
///
/// Everything registered with a loop (sockets, nghttp2 sessions) is touched only on its thread;
/// other threads reach it through `execute`. A loop is also a `SerialExecutor` and a
/// `TaskExecutor` (see `EventLoop+Executor.swift`).
///
/// Safety of `@unchecked Sendable`: the mutable stored properties below `MARK: Loop thread` are
/// read and written only on the loop's own thread (each use is inside `run()` or a method that
/// asserts `inEventLoop`); state shared with other threads is `remote` (a `Mutex`), `threadID`
/// and `timerIDs` (atomics), and the immutable `wakeFD`.
public final class EventLoop: @unchecked Sendable {
    /// Work handed over by another thread.
    private enum RemoteWork {
        case closure(@Sendable () -> Void)
        case job(UnownedJob)
    }

    /// Work queued by the loop thread itself.
    private enum LocalWork {
        case closure(() -> Void)
        case job(UnownedJob)
    }

    private struct Remote {
        var work: [RemoteWork] = []
        /// The loop is not blocked in `epoll_wait` (or a wake-up is already on its way), so
        /// submitters need not write the eventfd.
        var awake = true
        var stopping = false
        var stopped = false
        var stopWaiters: [CheckedContinuation<Void, Never>] = []
        /// A `shutdown` call has taken the join of the thread (only one may join it).
        var joinTaken = false
    }

    /// A short name for the thread and for logs.
    public let name: String
    /// Told of each turn of the loop that kept it from its sockets for too long.
    let stallReport: StallReport?

    private let remote = Mutex(Remote())
    private let threadID = Atomic<UInt>(0)
    private let timerIDs = Atomic<UInt64>(1)
    private let wakeFD: EventFD

    // MARK: Loop thread
    private let epoll: Epoll
    /// Loop thread only and never held across a call that could touch it again: no dynamic
    /// exclusivity check (one per job a handler task enqueues).
    @exclusivity(unchecked) private var local: [LocalWork] = []
    private var timers = TimerHeap()
    private var deadlines = DeadlineQueue()
    private var handlers: [UInt64: any IOHandler] = [:]
    private var nextToken: UInt64 = 1
    private var endOfTick: [() -> Void] = []
    private var thread: OSThread?
    /// Where connections on this loop read their sockets into (one read is handled before the next).
    let readBuffer = ReadBuffer(capacity: 256 * 1024)
    /// Where connections on this loop produce their output before writing it (empty between
    /// flushes; see `HTTP2Connection.flush`).
    let writeBuffer = WriteBuffer(capacity: 128 * 1024)
    /// Where the nghttp2 sessions of this loop's connections allocate.
    let sessionMemory = Nghttp2Memory()

    /// The token of the eventfd's registration.
    private static let wakeToken: UInt64 = 0

    /// Creates a loop and starts its thread.
    public convenience init(name: String = "capstan-loop", stallReport: StallReport? = nil) throws(HTTP2TransportError) {
        try self.init(name: name, start: true, stallReport: stallReport)
    }

    init(name: String, start: Bool, stallReport: StallReport? = nil) throws(HTTP2TransportError) {
        self.name = name
        self.stallReport = stallReport
        wakeFD = try EventFD()
        epoll = try Epoll()
        try epoll.add(wakeFD.fd, token: Self.wakeToken, interest: .read)
        if start { try self.start() }
    }

    func start() throws(HTTP2TransportError) {
        // `thread` is written before the loop thread runs and read only by `join` afterwards.
        thread = try OSThread.spawn(name: name) { [self] in run() }
    }

    /// Whether the caller is running on this loop's thread.
    public var inEventLoop: Bool {
        threadID.load(ordering: .relaxed) == OSThread.currentID
    }

    // MARK: Submitting work

    /// Runs `work` on the loop thread, after the work already queued.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop {
            local.append(.closure(work))
        } else {
            submitRemote(.closure(work))
        }
    }

    /// Like `execute`, for the loop thread itself (the closure need not be `Sendable`).
    func executeOnLoop(_ work: @escaping () -> Void) {
        assert(inEventLoop)
        local.append(.closure(work))
    }

    /// Queues a Swift job (from the executor conformances).
    func enqueueJob(_ job: UnownedJob) {
        if inEventLoop {
            local.append(.job(job))
        } else {
            submitRemote(.job(job))
        }
    }

    private func submitRemote(_ work: RemoteWork) {
        enum Outcome { case queued, wake, stopped }
        let outcome: Outcome = remote.withLock { remote in
            if remote.stopped { return .stopped }
            remote.work.append(work)
            if remote.awake { return .queued }
            remote.awake = true
            return .wake
        }
        switch outcome {
        case .queued: break
        case .wake: wakeFD.signal()
        case .stopped: Self.runAfterStop(work)
        }
    }

    /// Work arriving after the loop stopped: Swift jobs move to the global executor so their tasks
    /// still finish; closures, which assume the loop thread, are dropped.
    private static func runAfterStop(_ work: RemoteWork) {
        if case .job(let job) = work {
            globalConcurrentExecutor.enqueue(ExecutorJob(job))
        }
    }

    /// Runs `work` once this tick's work and I/O are done (used to coalesce socket flushes).
    func executeAtEndOfTick(_ work: @escaping () -> Void) {
        assert(inEventLoop)
        endOfTick.append(work)
    }

    // MARK: Timers

    /// Runs `body` on the loop at `deadline` unless cancelled first.
    @discardableResult
    public func scheduleTimer(
        at deadline: ContinuousClock.Instant,
        _ body: @escaping @Sendable () -> Void
    ) -> EventLoopTimer {
        let id = timerIDs.add(1, ordering: .relaxed).oldValue
        if inEventLoop {
            timers.insert(id: id, deadline: deadline, body)
        } else {
            execute { [self] in timers.insert(id: id, deadline: deadline, body) }
        }
        return EventLoopTimer(loop: self, id: id)
    }

    /// Runs `body` on the loop after `delay` unless cancelled first.
    @discardableResult
    public func scheduleTimer(after delay: Duration, _ body: @escaping @Sendable () -> Void) -> EventLoopTimer {
        scheduleTimer(at: .now.advanced(by: delay), body)
    }

    /// A timer for the loop thread itself (the closure need not be `Sendable`).
    func scheduleTimerOnLoop(after delay: Duration, _ body: @escaping () -> Void) -> EventLoopTimer {
        assert(inEventLoop)
        let id = timerIDs.add(1, ordering: .relaxed).oldValue
        timers.insert(id: id, deadline: .now.advanced(by: delay), body)
        return EventLoopTimer(loop: self, id: id)
    }

    /// Calls `entry.deadlinePassed()` on the loop at `deadline` unless `disarmDeadline` comes
    /// first (an entry already armed is moved). Loop thread only.
    func armDeadline(_ entry: any DeadlineEntry, at deadline: ContinuousClock.Instant) {
        assert(inEventLoop)
        deadlines.insert(entry, at: deadline)
    }

    /// Takes `entry`'s deadline off the loop (nothing happens if it is not armed). Loop thread only.
    func disarmDeadline(_ entry: any DeadlineEntry) {
        assert(inEventLoop)
        deadlines.remove(entry)
    }

    /// Deadlines armed (for tests).
    var armedDeadlineCount: Int {
        assert(inEventLoop)
        return deadlines.count
    }

    /// Timer heap entries, cancelled ones not yet dropped included (for tests).
    var timerEntryCount: Int {
        assert(inEventLoop)
        return timers.entryCount
    }

    func cancelTimer(id: UInt64) {
        if inEventLoop {
            timers.cancel(id: id)
        } else {
            execute { [self] in timers.cancel(id: id) }
        }
    }

    // MARK: Registrations (loop thread)

    /// Watches `fd` for `interest`; returns the token to change or end the registration.
    func register(fd: Int32, interest: IOInterest, handler: any IOHandler) throws(HTTP2TransportError) -> UInt64 {
        assert(inEventLoop)
        let token = nextToken
        nextToken += 1
        try epoll.add(fd, token: token, interest: interest)
        handlers[token] = handler
        return token
    }

    func setInterest(fd: Int32, token: UInt64, interest: IOInterest) throws(HTTP2TransportError) {
        assert(inEventLoop)
        try epoll.modify(fd, token: token, interest: interest)
    }

    /// Stops watching `fd` (call before closing it).
    func deregister(fd: Int32, token: UInt64) {
        assert(inEventLoop)
        epoll.remove(fd)
        handlers[token] = nil
    }

    /// Number of registered descriptors (for tests).
    var registrationCount: Int {
        assert(inEventLoop)
        return handlers.count
    }

    // MARK: Stopping

    /// Stops the loop once the work queued so far has run; registered handlers are told to close.
    /// Returns when the loop has stopped; the first call also waits until its thread has ended.
    /// Must not be called on the loop itself.
    public func shutdown() async {
        precondition(!inEventLoop, "an event loop cannot wait for its own shutdown")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (alreadyStopped, wake) = remote.withLock { remote in
                if remote.stopped { return (true, false) }
                remote.stopWaiters.append(continuation)
                remote.stopping = true
                defer { remote.awake = true }
                return (false, !remote.awake)
            }
            if alreadyStopped { continuation.resume() }
            if wake { wakeFD.signal() }
        }
        // Exactly one caller joins: a second join of the same thread is undefined, and glibc may
        // have handed its descriptor to a newer thread by then (that join would wait for it).
        let joins = remote.withLock { remote in
            defer { remote.joinTaken = true }
            return !remote.joinTaken
        }
        if joins { thread?.join() }
    }

    // MARK: The loop

    private func run() {
        threadID.store(OSThread.currentID, ordering: .relaxed)
        while true {
            let timeout = computeTimeout()
            let count: Int
            do {
                count = try epoll.wait(timeoutMilliseconds: timeout)
            } catch {
                preconditionFailure("epoll_wait failed: \(error)")
            }
            let turnStarted = stallReport == nil ? nil : ContinuousClock.now
            for index in 0..<count { dispatch(epoll.event(at: index)) }
            let stopping = remote.withLock { remote in
                remote.awake = true
                return remote.stopping
            }
            runTimers()
            runWork()
            runEndOfTick()
            if let turnStarted, let stallReport {
                let busy = turnStarted.duration(to: .now)
                if busy >= stallReport.threshold { stallReport.report(name, busy) }
            }
            if stopping, local.isEmpty, remote.withLock({ $0.work.isEmpty }) { break }
        }
        finish()
    }

    /// How long `epoll_wait` may block: not at all with work queued, else until the next timer.
    private func computeTimeout() -> Int32 {
        if !local.isEmpty || !endOfTick.isEmpty { return 0 }
        let asleep = remote.withLock { remote in
            guard remote.work.isEmpty, !remote.stopping else { return false }
            remote.awake = false
            return true
        }
        guard asleep else { return 0 }
        let next: ContinuousClock.Instant? =
            switch (timers.nextDeadline(), deadlines.nextDeadline) {
            case (let timer?, let call?): min(timer, call)
            case (let timer?, nil): timer
            case (nil, let call?): call
            case (nil, nil): nil
            }
        guard let deadline = next else { return -1 }
        let remaining = ContinuousClock.now.duration(to: deadline)
        if remaining <= .zero { return 0 }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: milliseconds)
    }

    private func dispatch(_ event: IOEvent) {
        if event.token == Self.wakeToken {
            wakeFD.drain()
            return
        }
        // A handler closed earlier in this batch is gone: its stale event is dropped.
        guard let handler = handlers[event.token] else { return }
        handler.ioReady(readable: event.readable, writable: event.writable, failed: event.failed)
    }

    private func runTimers() {
        guard timers.count > 0 || deadlines.count > 0 else { return }
        let now = ContinuousClock.now
        if timers.count > 0 {
            for body in timers.popDue(now: now) { body() }
        }
        if let first = deadlines.nextDeadline, first <= now {
            for entry in deadlines.popDue(now: now) { entry.deadlinePassed() }
        }
    }

    private func runWork() {
        let remoteWork = remote.withLock { remote -> [RemoteWork] in
            guard !remote.work.isEmpty else { return [] }
            var taken: [RemoteWork] = []
            swap(&taken, &remote.work)
            return taken
        }
        for work in remoteWork {
            switch work {
            case .closure(let body): body()
            case .job(let job): run(job)
            }
        }
        guard !local.isEmpty else { return }
        // Work queued while this batch runs waits for the next tick, after another look at I/O.
        var batch: [LocalWork] = []
        swap(&batch, &local)
        for work in batch {
            switch work {
            case .closure(let body): body()
            case .job(let job): run(job)
            }
        }
        if local.isEmpty {
            // Keep the array's storage for the next tick.
            batch.removeAll(keepingCapacity: true)
            swap(&batch, &local)
        }
    }

    @inline(__always)
    private func run(_ job: UnownedJob) {
        job.runSynchronously(on: asUnownedTaskExecutor())
    }

    private func runEndOfTick() {
        while !endOfTick.isEmpty {
            var batch: [() -> Void] = []
            swap(&batch, &endOfTick)
            for body in batch { body() }
        }
    }

    private func finish() {
        for handler in handlers.values { handler.loopWillClose() }
        handlers.removeAll()
        let (waiters, late) = remote.withLock { remote in
            remote.stopped = true
            defer {
                remote.stopWaiters.removeAll()
                remote.work.removeAll()
            }
            return (remote.stopWaiters, remote.work)
        }
        for work in late { Self.runAfterStop(work) }
        // Local jobs cannot be left behind either.
        for case .job(let job) in local { globalConcurrentExecutor.enqueue(ExecutorJob(job)) }
        local.removeAll()
        threadID.store(0, ordering: .relaxed)
        for waiter in waiters { waiter.resume() }
    }
}

/// A timer scheduled on an `EventLoop`.
public struct EventLoopTimer: Sendable {
    let loop: EventLoop
    let id: UInt64

    /// Cancels the timer; it does not run unless it is already running. Safe from any thread.
    public func cancel() {
        loop.cancelTimer(id: id)
    }
}
