import CapstanStore
import CapstanStoreTorture
import CapstanProcessSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SIGKILL during heavy writing loses no acknowledged write and leaves no torn one.
///
/// Each round starts `store-torture` on the same data directory (it prints every acknowledged write
/// after its acknowledgement), kills it with SIGKILL mid-load, reopens the store and checks: every
/// printed write is there at its revision with its value; every row in the log is a complete write
/// (values verify themselves); revisions are contiguous and every key's history chains; the store
/// takes new writes.
@Suite("SQLiteStore durability", .serialized)
struct DurabilityTests {
    static let rounds = 3

    @Test func acknowledgedWritesSurviveSIGKILL() async throws {
        let executable = try #require(Self.tortureExecutable(), "store-torture is not built: run `swift build --build-tests`")
        try await withTemporaryDirectory { directory in
            let data = directory + "/data"
            var acknowledged: [StoreTorture.Record] = []
            for round in 0..<Self.rounds {
                let records = try await Self.runAndKill(executable, data: data, output: directory + "/out-\(round)")
                #expect(records.count >= 200, "round \(round) acknowledged only \(records.count) writes")
                acknowledged += records
                try await Self.verify(data, acknowledged: acknowledged, round: round)
            }
        }
    }

    /// Starts the child, lets it acknowledge some writes, SIGKILLs it; returns its complete lines.
    static func runAndKill(_ executable: URL, data: String, output: String) async throws -> [StoreTorture.Record] {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        _ = FileManager.default.createFile(atPath: output + ".err", contents: nil)
        let process = Subprocess()
        process.executableURL = executable
        process.arguments = [data, "--writers", "8", "--keys", "150", "--seconds", "120"]
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: output + ".err"))
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        // Bounded wait until it has acknowledged a few hundred writes, then a random moment more.
        for _ in 0..<1200 where process.isRunning {
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            if size > 300 * 30 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...400)))
        let wasRunning = process.isRunning
        kill(process.processIdentifier, SIGKILL)
        await process.waitForExit()
        let errors = (try? String(contentsOfFile: output + ".err", encoding: .utf8)) ?? ""
        #expect(wasRunning, "store-torture exited early: \(errors)")
        #expect(process.terminationReason == .uncaughtSignal)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        // A line cut by the kill (no newline) is an acknowledgement we cannot read; ignore it.
        let complete = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
        return try complete.split(separator: "\n").map { line in
            try #require(StoreTorture.Record(line: line), "bad line \(line)")
        }
    }

    static func verify(_ data: String, acknowledged: [StoreTorture.Record], round: Int) async throws {
        var options = SQLiteStoreOptions()
        options.retention = nil
        let store = try await SQLiteStore.open(directory: data, options: options)
        let head = try await store.currentRevision()
        // Every revision so far is a torture write, except one verification write per earlier round.
        let events = try await collect(
            try await store.watch(prefix: StoreTorture.prefix, fromRevision: 0), count: Int(head) - round)
        #expect(events.count == Int(head) - round)

        let history = TortureHistory(events, acknowledged: acknowledged, label: "round \(round)")

        // The current state agrees with the history, and the store takes writes.
        let listing = try await store.list(prefix: StoreTorture.prefix)
        #expect(listing.items.map(\.key) == history.liveKeys)
        #expect(try await store.create("/verified/\(round)", value: []) == head + 1)
        await store.close()
    }

    /// `store-torture` beside the test bundle's executable in the build directory.
    static func tortureExecutable() -> URL? {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("store-torture")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }
}
