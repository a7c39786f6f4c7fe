/// A loop runs Swift jobs on its thread: as an actor's `SerialExecutor` (an actor whose
/// `unownedExecutor` is the loop's) and as a `TaskExecutor` (`Task(executorPreference: loop)`),
/// so a handler task started from a connection's callbacks runs on the connection's thread.
extension EventLoop: SerialExecutor, TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueueJob(UnownedJob(job))
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    public func isSameExclusiveExecutionContext(other: EventLoop) -> Bool {
        self === other
    }

    public func checkIsolated() {
        precondition(inEventLoop, "expected to run on event loop \(name)")
    }
}
