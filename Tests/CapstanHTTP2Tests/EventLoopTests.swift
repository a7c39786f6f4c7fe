@testable import CapstanHTTP2
import Synchronization
import Testing

@Suite("EventLoop", .timeLimit(.minutes(1)))
struct EventLoopTests {
    @Test("work submitted from many threads runs on the loop thread, in order per submitter")
    func executeFromOtherThreads() async throws {
        let loop = try EventLoop(name: "test-loop")
        let submitters = 8
        let perSubmitter = 2_000
        let seen = Locked<[[Int]]>(Array(repeating: [], count: submitters))
        let offLoop = Counter()
        await withTaskGroup(of: Void.self) { group in
            for submitter in 0..<submitters {
                group.addTask {
                    for index in 0..<perSubmitter {
                        loop.execute {
                            if !loop.inEventLoop { offLoop.increment() }
                            seen.withLock { $0[submitter].append(index) }
                        }
                    }
                }
            }
        }
        // Everything submitted before this closure has run once it runs.
        await withCheckedContinuation { continuation in loop.execute { continuation.resume() } }
        #expect(offLoop.value == 0)
        for list in seen.value { #expect(list == Array(0..<perSubmitter)) }
        #expect(!loop.inEventLoop)
        await loop.shutdown()
    }

    @Test("timers fire in deadline order; a cancelled timer never fires")
    func timers() async throws {
        let loop = try EventLoop(name: "test-timers")
        let fired = Locked<[Int]>([])
        let start = ContinuousClock.now
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.scheduleTimer(at: start.advanced(by: .milliseconds(30))) { fired.withLock { $0.append(3) } }
            loop.scheduleTimer(at: start.advanced(by: .milliseconds(10))) { fired.withLock { $0.append(1) } }
            let cancelled = loop.scheduleTimer(at: start.advanced(by: .milliseconds(20))) { fired.withLock { $0.append(99) } }
            loop.scheduleTimer(at: start.advanced(by: .milliseconds(20))) { fired.withLock { $0.append(2) } }
            cancelled.cancel()
            loop.scheduleTimer(at: start.advanced(by: .milliseconds(40))) { continuation.resume() }
        }
        #expect(fired.value == [1, 2, 3])
        #expect(ContinuousClock.now >= start.advanced(by: .milliseconds(40)))
        await loop.shutdown()
    }

    @Test("a timer scheduled and cancelled on the loop thread itself")
    func timerOnLoop() async throws {
        let loop = try EventLoop(name: "test-timers2")
        let ran = Counter()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                let timer = loop.scheduleTimer(after: .milliseconds(5)) { ran.increment() }
                timer.cancel()
                loop.scheduleTimer(after: .milliseconds(10)) { ran.increment(by: 10) }
                loop.scheduleTimer(after: .milliseconds(15)) { continuation.resume() }
            }
        }
        #expect(ran.value == 10)
        await loop.shutdown()
    }

    @Test("a task preferring the loop runs on its thread, also after suspending elsewhere")
    func taskExecutor() async throws {
        let loop = try EventLoop(name: "test-exec")
        let results = await Task(executorPreference: loop) { () -> [Bool] in
            var results = [loop.inEventLoop]
            try? await Task.sleep(for: .milliseconds(1))
            results.append(loop.inEventLoop)
            await Task.yield()
            results.append(loop.inEventLoop)
            // Child tasks inherit the preference.
            let child = await withTaskGroup(of: Bool.self) { group in
                group.addTask { loop.inEventLoop }
                return await group.next() ?? false
            }
            results.append(child)
            return results
        }.value
        #expect(results == [true, true, true, true])
        await loop.shutdown()
    }

    @Test("an actor whose executor is the loop runs on the loop thread")
    func serialExecutor() async throws {
        let loop = try EventLoop(name: "test-actor")
        actor Counter {
            let loop: EventLoop
            var count = 0
            init(loop: EventLoop) { self.loop = loop }
            nonisolated var unownedExecutor: UnownedSerialExecutor { loop.asUnownedSerialExecutor() }
            func increment() -> Bool {
                count += 1
                return loop.inEventLoop
            }
        }
        let counter = Counter(loop: loop)
        var onLoop = true
        for _ in 0..<100 { onLoop = await counter.increment() && onLoop }
        #expect(onLoop)
        #expect(await counter.count == 100)
        await loop.shutdown()
    }

    @Test("a group hands out its loops round robin and joins its threads on shutdown")
    func group() async throws {
        let group = try EventLoopGroup(threads: 3)
        let picked = (0..<6).map { _ in ObjectIdentifier(group.next()) }
        #expect(picked[0] == picked[3] && picked[1] == picked[4] && picked[2] == picked[5])
        #expect(Set(picked).count == 3)
        await group.shutdown()
        await group.shutdown()
    }

    @Test("a second shutdown returns without joining the thread again, even when a newer thread exists")
    func secondShutdown() async throws {
        let first = try EventLoop(name: "test-first")
        await first.shutdown()
        // Most likely on the first one's recycled thread descriptor and stack: a second join of
        // the first thread would wait for this one.
        let second = try EventLoop(name: "test-second")
        let returned = Locked(false)
        let again = Task {
            await first.shutdown()
            returned.withLock { $0 = true }
        }
        let deadline = ContinuousClock.now + .seconds(5)
        while !returned.value, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(returned.value, "the second shutdown waited for another thread")
        await second.shutdown()
        await again.value
    }

    @Test("a job enqueued after the loop stopped still runs elsewhere")
    func lateJob() async throws {
        let loop = try EventLoop(name: "test-late")
        await loop.shutdown()
        let value = await Task(executorPreference: loop) { 42 }.value
        #expect(value == 42)
    }
}
