import CapstanAPI
import CapstanWire
import Foundation
import Testing

/// Encodes and decodes reuse their thread's arena (`Arena.take`/`giveBack`): calls of very
/// different sizes in turn, calls after a failed decode, and calls on many threads at once must
/// each see an empty arena of the size they need.
@Suite struct ArenaReuseTests {
    /// A pod whose one annotation holds `padding` bytes (over 64 KiB: an arena the thread does
    /// not keep).
    private static func pod(_ name: String, padding: Int) -> Pod {
        var pod = Pod()
        pod.metadata.name = name
        pod.metadata.namespace = "default"
        pod.metadata.labels = ["app": name, "tier": "web"]
        pod.metadata.annotations = ["padding": String(repeating: "p", count: padding)]
        var container = Container()
        container.name = "c"
        container.image = "registry.example.com/\(name):v1"
        container.args = (0..<(padding % 7 + 1)).map { "--flag-\($0)=\(name)" }
        pod.spec.containers = [container]
        return pod
    }

    @Test func sizesInTurnRoundTrip() throws {
        let sizes = [0, 10, 100_000, 20, 3_000, 70_000, 5, 40_000, 1]
        for round in 0..<3 {
            for (index, size) in sizes.enumerated() {
                let pod = Self.pod("p\(round)-\(index)", padding: size)
                let bytes = pod.serializedBytes()
                let decoded = try Pod(serializedBytes: bytes)
                #expect(decoded == pod, "pod with \(size) bytes of padding changed in a round trip")
                #expect(decoded.serializedBytes() == bytes, "pod with \(size) bytes of padding re-encodes differently")
            }
        }
    }

    @Test func decodeAfterFailedDecode() throws {
        let pod = Self.pod("after-failure", padding: 2_000)
        let bytes = pod.serializedBytes()
        // Truncated inside the annotation: protobuf-c fails midway through its allocations.
        #expect(throws: WireError.self) { try Pod(serializedBytes: Array(bytes.prefix(bytes.count - 10))) }
        #expect(try Pod(serializedBytes: bytes) == pod)
    }

    @Test func threadsEachRoundTrip() async throws {
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var failures = 0
                    for iteration in 0..<200 {
                        let pod = Self.pod("w\(worker)-\(iteration)", padding: (worker * 997 + iteration * 131) % 9_000)
                        let bytes = pod.serializedBytes()
                        if try Pod(serializedBytes: bytes) != pod { failures += 1 }
                    }
                    return failures
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}
