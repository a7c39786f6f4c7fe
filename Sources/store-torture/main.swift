// The durability test's child process: opens the SQLite store in a directory and runs the torture
// workload, printing each acknowledged write, until killed (or `--seconds` pass).
//
//     store-torture DIRECTORY [--writers N] [--keys N] [--seconds N]
import CapstanStore
import CapstanStoreTorture

#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String, status: Int32) -> Never {
    let bytes = Array((message + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let directory = arguments.first, !directory.hasPrefix("--") else {
    fail("usage: store-torture DIRECTORY [--writers N] [--keys N] [--seconds N]", status: 2)
}
func option(_ name: String, default value: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let number = Int(arguments[index + 1])
    else { return value }
    return number
}
var options = SQLiteStoreOptions()
options.retention = nil  // keep all history: the test checks every acknowledged write
do {
    let store = try await SQLiteStore.open(directory: directory, options: options)
    await StoreTorture.run(
        store: store, writers: option("--writers", default: 8), keys: option("--keys", default: 200),
        seconds: option("--seconds", default: 60))
    await store.close()
} catch {
    fail("store-torture: \(error)", status: 1)
}
