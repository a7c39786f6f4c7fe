import CapstanAPI
import CapstanRPC
import CapstanTestSupport
import CapstanWire
import Synchronization

/// Reads a watch stream on its own task so a test can take events one at a time with a bound.
final class WatchReader<Event: WireMessage>: Sendable {
    private enum Item: Sendable {
        case event(Event)
        case end((any Error)?)
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Item, Never>?
        var cancelled = false
    }

    private let state = Mutex(State())
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)
    let call: ServerStreamingCall<Event>

    init(_ call: ServerStreamingCall<Event>) {
        self.call = call
        let task = Task { [weak self] in
            do {
                for try await event in call { self?.push(.event(event)) }
                self?.push(.end(nil))
            } catch {
                self?.push(.end(error))
            }
        }
        self.task.withLock { $0 = task }
    }

    deinit {
        call.cancel()
    }

    private func push(_ item: Item) {
        let waiter: CheckedContinuation<Item, Never>? = state.withLock { state in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.items.append(item)
            return nil
        }
        waiter?.resume(returning: item)
    }

    /// The next item; `.end(CancellationError())` if the waiting task is cancelled.
    private func take() async -> Item {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let item: Item? = state.withLock { state in
                    if let first = state.items.first {
                        if case .end = first {} else { state.items.removeFirst() }
                        return first
                    }
                    if state.cancelled {
                        state.cancelled = false
                        return .end(CancellationError())
                    }
                    state.waiter = continuation
                    return nil
                }
                if let item { continuation.resume(returning: item) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Item, Never>? = state.withLock { state in
                guard let waiter = state.waiter else {
                    state.cancelled = true
                    return nil
                }
                state.waiter = nil
                return waiter
            }
            waiter?.resume(returning: .end(CancellationError()))
        }
    }

    /// The next event; nil when the stream ended normally; throws the error it ended with.
    func next(seconds: Int = 60) async throws -> Event? {
        let item = try await bounded("a watch event", seconds: seconds) { await self.take() }
        switch item {
        case .event(let event): return event
        case .end(nil): return nil
        case .end(let error?): throw error
        }
    }

    /// The next `count` events.
    func next(_ count: Int) async throws -> [Event] {
        var events: [Event] = []
        while events.count < count {
            guard let event = try await next() else { break }
            events.append(event)
        }
        return events
    }

    func cancel() { call.cancel() }
}

/// A watch event in comparable form.
struct Seen: Hashable, Sendable, CustomStringConvertible {
    var type: EventType
    var name: String
    var revision: UInt64

    var description: String { "\(type.protoName ?? "?") \(name)@\(revision)" }
}

extension PodEvent {
    var seen: Seen {
        Seen(type: type, name: "\(object.metadata.namespace)/\(object.metadata.name)", revision: object.metadata.resourceVersion)
    }
}
