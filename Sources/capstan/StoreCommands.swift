// capstan backup / capstan restore: copies of the embedded store (SQLiteBackup does the work).
//   capstan backup [--data-dir ~/.capstan/data] FILE
//   capstan restore FILE [--data-dir ~/.capstan/data] [--bump-revision 1000000000]
import ArgumentParser
import CapstanAPIServerHost
import CapstanStore
import Foundation

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the embedded store to a file, also while a server runs on it.",
        discussion: """
            The copy holds one revision of the store, without its history, and is written under FILE.partial \
            until it is complete and synced. For an etcd store use `etcdctl snapshot save`.
            """)

    @Option(help: "Directory of the embedded store (as given to up --data-dir, or apiserver --store sqlite:DIRECTORY).")
    var dataDir = UpCommand.defaultDataDirectory

    @Argument(help: "The backup file to create (an existing file is never overwritten).")
    var file: String

    func run() async throws {
        let directory = StoreAddress.expandingTilde(dataDir)
        let output = StoreAddress.expandingTilde(file)
        let summary: SQLiteBackup.Summary
        do {
            summary = try SQLiteBackup.backup(directory: directory, to: output)
        } catch {
            throw StoreCommandError(error.reason)
        }
        print("Backed up revision \(summary.revision) of \(directory): \(objects(summary.keys)), \(summary.bytes) bytes in \(output).")
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Make a data directory for the embedded store from a backup.",
        discussion: """
            The directory must not hold a store yet (stop the server and move its store.db away, or restore into a \
            new directory). The restored store starts --bump-revision revisions above the backup's, with older \
            revisions compacted: clients that watched or read the store after the backup was taken are told to list \
            again (OUT_OF_RANGE) instead of seeing revisions they knew reused for other writes.
            """)

    @Argument(help: "A file made by capstan backup.")
    var file: String

    @Option(help: "Directory to create the store in.")
    var dataDir = UpCommand.defaultDataDirectory

    @Option(help: "Revisions to move the store's revision up by (0: none).")
    var bumpRevision: Int64 = SQLiteBackup.defaultBumpRevision

    func validate() throws {
        guard bumpRevision >= 0 else { throw ValidationError("--bump-revision must be 0 or more, got \(bumpRevision)") }
    }

    func run() async throws {
        let directory = StoreAddress.expandingTilde(dataDir)
        let input = StoreAddress.expandingTilde(file)
        let summary: SQLiteBackup.Summary
        do {
            summary = try await SQLiteBackup.restore(from: input, into: directory, bumpRevision: bumpRevision)
        } catch {
            throw StoreCommandError(error.reason)
        }
        print("Restored \(objects(summary.keys)) from \(input) into \(directory); the store's revision is now \(summary.revision).")
    }
}

/// "1 object", "2 objects".
func objects(_ count: Int) -> String { count == 1 ? "1 object" : "\(count) objects" }

/// A failure of backup or restore: its message on standard error and exit status 1.
struct StoreCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
