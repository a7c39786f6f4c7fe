import CapstanStore
import CapstanTestSupport
import Testing

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
    try await CapstanTestSupport.withTemporaryDirectory(prefix: "capstan-store", body)
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
