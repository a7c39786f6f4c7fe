internal import CLinux
import Glibc

// The OS boundary: every system call the module makes goes through `System.call`, which
// retries `EINTR` and turns a failure into `HTTP2TransportError` carrying `errno`. The other
// files in this folder are the only ones (with `Nghttp2/`) that handle raw pointers.

enum System {
    /// Runs `body` (a system call returning -1 on failure), retrying while it fails with `EINTR`.
    @inline(__always)
    static func call<Result: FixedWidthInteger>(
        _ name: StaticString,
        _ body: () -> Result
    ) throws(HTTP2TransportError) -> Result {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = Glibc.errno
            if error == EINTR { continue }
            throw failure(name, error)
        }
    }

    /// Like `call`, but a failure with `EAGAIN`/`EWOULDBLOCK` (or `EINPROGRESS`) returns `nil`.
    @inline(__always)
    static func callNonBlocking<Result: FixedWidthInteger>(
        _ name: StaticString,
        _ body: () -> Result
    ) throws(HTTP2TransportError) -> Result? {
        while true {
            let result = body()
            if result != -1 { return result }
            let error = Glibc.errno
            if error == EINTR { continue }
            if error == EAGAIN || error == EWOULDBLOCK || error == EINPROGRESS { return nil }
            throw failure(name, error)
        }
    }

    static func failure(_ name: StaticString, _ error: Int32) -> HTTP2TransportError {
        HTTP2TransportError(.systemCall, "\(name): \(describe(errno: error))", errno: error)
    }

    static func describe(errno error: Int32) -> String {
        guard let text = strerror(error) else { return "errno \(error)" }
        return String(cString: text)
    }

    /// Closes `fd`; `EINTR` is not retried (Linux releases the descriptor anyway).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

// MARK: - epoll and eventfd

/// Readiness a file descriptor is watched for.
struct IOInterest: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    static let read = IOInterest(rawValue: 1)
    static let write = IOInterest(rawValue: 2)
}

/// What epoll reported for one registration.
struct IOEvent {
    var token: UInt64
    var readable: Bool
    var writable: Bool
    /// Error or hang-up: the handler should read to learn more and close.
    var failed: Bool
}

/// An epoll instance. Owned by one `EventLoop`, used only on its thread (after creation).
final class Epoll {
    let fd: Int32
    private var buffer: [epoll_event]

    init(capacity: Int = 256) throws(HTTP2TransportError) {
        fd = try System.call("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        buffer = Array(repeating: epoll_event(), count: capacity)
    }

    deinit { System.close(fd) }

    private static func mask(_ interest: IOInterest) -> UInt32 {
        var events: UInt32 = EPOLLRDHUP.rawValue
        if interest.contains(.read) { events |= EPOLLIN.rawValue }
        if interest.contains(.write) { events |= EPOLLOUT.rawValue }
        return events
    }

    func add(_ target: Int32, token: UInt64, interest: IOInterest) throws(HTTP2TransportError) {
        var event = epoll_event()
        event.events = Self.mask(interest)
        event.data.u64 = token
        _ = try System.call("epoll_ctl(ADD)") { epoll_ctl(fd, EPOLL_CTL_ADD, target, &event) }
    }

    func modify(_ target: Int32, token: UInt64, interest: IOInterest) throws(HTTP2TransportError) {
        var event = epoll_event()
        event.events = Self.mask(interest)
        event.data.u64 = token
        _ = try System.call("epoll_ctl(MOD)") { epoll_ctl(fd, EPOLL_CTL_MOD, target, &event) }
    }

    func remove(_ target: Int32) {
        var event = epoll_event()
        _ = try? System.call("epoll_ctl(DEL)") { epoll_ctl(fd, EPOLL_CTL_DEL, target, &event) }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever); returns how many events `event(at:)` has.
    func wait(timeoutMilliseconds: Int32) throws(HTTP2TransportError) -> Int {
        let capacity = Int32(buffer.count)
        let epfd = fd
        return try buffer.withUnsafeMutableBufferPointer { (events) throws(HTTP2TransportError) -> Int in
            Int(try System.call("epoll_wait") { epoll_wait(epfd, events.baseAddress, capacity, timeoutMilliseconds) })
        }
    }

    /// The `index`th event of the last `wait`.
    func event(at index: Int) -> IOEvent {
        let raw = buffer[index]
        let flags = raw.events
        return IOEvent(
            token: raw.data.u64,
            readable: flags & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLHUP.rawValue) != 0,
            writable: flags & EPOLLOUT.rawValue != 0,
            failed: flags & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
        )
    }
}

/// An eventfd used to wake a loop blocked in `epoll_wait`.
struct EventFD: ~Copyable {
    let fd: Int32

    init() throws(HTTP2TransportError) {
        fd = try System.call("eventfd") { eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK)) }
    }

    deinit { System.close(fd) }

    /// Makes the descriptor readable. Safe from any thread.
    func signal() {
        var one: UInt64 = 1
        let fd = fd
        _ = try? System.callNonBlocking("write(eventfd)") { withUnsafeBytes(of: &one) { Glibc.write(fd, $0.baseAddress, 8) } }
    }

    /// Resets the counter (loop thread).
    func drain() {
        var value: UInt64 = 0
        let fd = fd
        _ = try? System.callNonBlocking("read(eventfd)") {
            withUnsafeMutableBytes(of: &value) { Glibc.read(fd, $0.baseAddress, 8) }
        }
    }
}

// MARK: - Threads

/// An OS thread running one closure: joined (`join`) or detached (`detach`).
struct OSThread: Sendable {
    private let handle: pthread_t

    /// The calling thread's identity, comparable with `id`.
    static var currentID: UInt { UInt(pthread_self()) }

    var id: UInt { UInt(handle) }

    /// Starts a thread named `name` (at most 15 bytes are kept) running `body`.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) throws(HTTP2TransportError) -> OSThread {
        final class Box {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
        }
        // Retained here and released by the new thread once it has taken the closure.
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            _ = CLinux_set_thread_name(String(box.name.utf8.prefix(15)) ?? "capstan-loop")
            box.body()
            return nil
        }, box)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw System.failure("pthread_create", result)
        }
        return OSThread(handle: handle)
    }

    /// Waits for the thread to end. Call once, never from the thread itself.
    func join() {
        _ = pthread_join(handle, nil)
    }

    /// Lets the thread's resources go when it ends, without a `join` (call once, instead of it).
    func detach() {
        _ = pthread_detach(handle)
    }
}
