// Fuzzes the whole API server over a real socket: each input is what a client sends after the
// HTTP/2 connection preface, on a fresh loopback connection to a real `APIServerHost` (its SQLite
// store in a temporary directory, removed at exit). The input may hold any frames: requests to
// every service, broken HPACK, resets, flow-control abuse. Whatever it holds, the server must
// not crash (AddressSanitizer watches its memory), must close or answer within a bound, and must
// still answer a health check on a new connection every 64 inputs.
import CapstanAPI
import CapstanAPIServerHost
import CapstanHTTP2
import CapstanRPC
import Foundation
import Glibc
import Synchronization

/// The server every input talks to, started on the first input.
private final class Target: @unchecked Sendable {
    let port: UInt16
    let directory: String
    let host: APIServerHost
    let client: Grpc_Health_V1_Health.Client
    var inputs = 0

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("capstan-fuzz-\(getpid())").path
        try? FileManager.default.removeItem(atPath: directory)
        try! FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let directory = directory
        let (host, client) = blocking {
            let host = try await APIServerHost.start(store: .sqlite(directory), host: "127.0.0.1", port: 0)
            let group = try EventLoopGroup(threads: 1)
            let transport = try HTTP2ClientTransport(targets: [host.address], group: group)
            return (host, Grpc_Health_V1_Health.Client(RPCClient(transport: transport)))
        }
        self.host = host
        self.client = client
        port = UInt16(host.port)
        atexit { try? FileManager.default.removeItem(atPath: Target.shared.directory) }
    }

    static let shared = Target()

    /// Sends the preface and `input` on a new connection, half-closes, and reads what comes back
    /// until the server closes or 100 ms pass without a byte.
    func exchange(_ input: UnsafeRawBufferPointer) {
        let fd = connected()
        defer { close(fd) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        guard sendAll(fd, preface.withUnsafeBytes { $0 }) else { return }
        guard sendAll(fd, input) else { return }
        shutdown(fd, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let count = retryingInterrupted { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            if count <= 0 { return }  // closed, reset, or quiet for 100 ms
        }
    }

    /// A socket connected to the server. libFuzzer's timer signal may interrupt `connect`; the
    /// attempt is then made again on a new socket.
    private func connected() -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        while true {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            precondition(fd >= 0, "socket: errno \(errno)")
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if result == 0 { return fd }
            let failure = errno
            close(fd)
            precondition(failure == EINTR, "the server no longer accepts connections (errno \(failure))")
        }
    }

    private func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = retryingInterrupted {
                send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent <= 0 { return false }  // the server closed the connection: allowed
            offset += sent
        }
        return true
    }

    private func retryingInterrupted(_ call: () -> Int) -> Int {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// A health check over a client connection of its own must still succeed.
    func checkServing() {
        let client = client
        let status = blocking {
            var options = CallOptions.default
            options.timeout = .seconds(10)
            return try await client.check(Grpc_Health_V1_HealthCheckRequest(), options: options).status
        }
        precondition(status == .serving, "the server stopped serving after \(inputs) inputs: \(status)")
    }
}

/// Runs `body` to completion from synchronous code (the fuzzer's entry point).
private func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    switch result.withLock({ $0 })! {
    case .success(let value): return value
    case .failure(let error): fatalError("\(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAPIServer(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let target = Target.shared
    target.exchange(UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count))
    target.inputs += 1
    if target.inputs % 64 == 0 { target.checkServing() }
    return 0
}
