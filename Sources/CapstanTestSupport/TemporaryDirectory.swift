import Foundation

/// Runs `body` with a fresh directory under the system's temporary directory, named
/// `<prefix>-<UUID>`, and removes it afterwards whatever happened.
public func withTemporaryDirectory<T>(prefix: String = "capstan-test", _ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}
