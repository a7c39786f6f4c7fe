import CapstanAPI
import CapstanHTTP2
import CapstanProcessSupport
import CapstanRPC
import CapstanTestSupport
import Foundation
import Testing

/// `capstan backup` of a running `capstan up`, `capstan restore` into a new directory, and an API
/// server on the restored store: the objects are there, and new writes get revisions past the bump.
@Suite("capstan backup and restore", .timeLimit(.minutes(2)))
struct CapstanBackupCommandTests {
    /// Runs `capstan arguments` to its end: exit status, standard output and standard error.
    static func run(_ arguments: [String], in directory: String) async throws -> (status: Int32, out: String, err: String) {
        let capstan = try #require(CapstanExecutableTests.capstanExecutable(), "capstan is not built: run `swift build --build-tests`")
        let tag = UUID().uuidString
        let (out, err) = (directory + "/out-\(tag)", directory + "/err-\(tag)")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Subprocess()
        process.executableURL = capstan
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try await CapstanExecutableTests.waitForExit(process)
        return (process.terminationStatus, try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: err, encoding: .utf8))
    }

    static func minions(_ api: String, _ body: (Minions.Client) async throws -> Void) async throws {
        let group = try EventLoopGroup(threads: 1)
        let transport = try HTTP2ClientTransport(targets: [api], group: group)
        do {
            try await body(Minions.Client(RPCClient(transport: transport)))
        } catch {
            await transport.close()
            await group.shutdown()
            throw error
        }
        await transport.close()
        await group.shutdown()
    }

    @Test func backupOfARunningServerRestoresIntoANewStore() async throws {
        try await CapstanExecutableTests.withCapstanProcess({ CapstanExecutableTests.daemonArguments("up", data: $0 + "/data") }) {
            process, out, api in
            let directory = URL(fileURLWithPath: out).deletingLastPathComponent().path
            var created: UInt64 = 0
            try await Self.minions(api) { minions in
                var minion = Minion()
                minion.metadata.name = "m1"
                minion.spec.address = "10.0.0.1"
                created = try await minions.create(minion).metadata.resourceVersion
            }
            let backup = try await Self.run(["backup", "--data-dir", directory + "/data", directory + "/backup"], in: directory)
            #expect(backup.status == 0, "\(backup)")
            #expect(backup.out == "Backed up revision \(created) of \(directory)/data: 1 object, \(try Self.fileSize(directory + "/backup")) bytes in \(directory)/backup.\n")
            let again = try await Self.run(["backup", "--data-dir", directory + "/data", directory + "/backup"], in: directory)
            #expect(again.status == 1 && again.err.contains("\(directory)/backup exists; give the backup a new name"), "\(again)")
            let busy = try await Self.run(["restore", directory + "/backup", "--data-dir", directory + "/data"], in: directory)
            #expect(busy.status == 1 && busy.err.contains("is in use by another store"), "\(busy)")

            let restore = try await Self.run(["restore", directory + "/backup", "--data-dir", directory + "/restored"], in: directory)
            #expect(restore.status == 0, "\(restore)")
            let bumped = created + 1_000_000_000
            #expect(restore.out == "Restored 1 object from \(directory)/backup into \(directory)/restored; the store's revision is now \(bumped).\n")
            kill(process.processIdentifier, SIGTERM)
            try await CapstanExecutableTests.waitForExit(process)

            try await CapstanExecutableTests.withCapstanProcess({ _ in
                CapstanExecutableTests.daemonArguments("apiserver", data: directory + "/restored")
            }) { restored, restoredOut, api in
                // It says what it serves: a restored store, not an empty one.
                let banner = try await CapstanExecutableTests.waitForText(restoredOut) { $0.contains("the API is ready") }
                #expect(banner.contains("the watch caches hold it (revision \(bumped), 1 object)"), "\(banner)")
                try await Self.minions(api) { minions in
                    let list = try await minions.list(ListRequest())
                    #expect(list.items.map(\.metadata.name) == ["m1"])
                    #expect(list.items.first?.metadata.resourceVersion == created)
                    #expect(list.resourceVersion == bumped)
                    var minion = Minion()
                    minion.metadata.name = "m2"
                    minion.spec.address = "10.0.0.2"
                    #expect(try await minions.create(minion).metadata.resourceVersion == bumped + 1)
                }
                kill(restored.processIdentifier, SIGTERM)
                try await CapstanExecutableTests.waitForExit(restored)
            }
        }
    }

    static func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
    }
}
