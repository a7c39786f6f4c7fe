import CapstanStore
import Foundation
import Testing

struct TestTimeout: Error, CustomStringConvertible {
    let what: String
    var description: String { "gave up waiting for \(what)" }
}

/// Runs `body`, failing with `TestTimeout` if it has not finished after `seconds` — a bound that keeps
/// a broken store from hanging the suite, generous enough never to fire on a working one.
func bounded<T: Sendable>(
    _ what: String, seconds: Int = 120, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TestTimeout(what: what) }
        return value
    }
}

/// The next `count` events of `stream`.
func collect(_ stream: WatchStream, count: Int, seconds: Int = 120) async throws -> [WatchEvent] {
    try await bounded("\(count) watch events", seconds: seconds) {
        var events: [WatchEvent] = []
        var iterator = stream.makeAsyncIterator()
        while events.count < count {
            guard let event = try await iterator.next() else { break }
            events.append(event)
        }
        return events
    }
}

/// Events of `stream` up to and including the first put of `key`.
func collect(_ stream: WatchStream, until key: String, seconds: Int = 120) async throws -> [WatchEvent] {
    try await bounded("watch events up to \(key)", seconds: seconds) {
        var events: [WatchEvent] = []
        for try await event in stream {
            events.append(event)
            if event.kind == .put && event.entry.key == key { break }
        }
        return events
    }
}

/// A fresh temporary directory, removed after `body`.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("capstan-store-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
