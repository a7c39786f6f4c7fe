/// A call's deadline as the server core stores it: an offset from one fixed instant.
///
/// `ContinuousClock.Instant` is not `@frozen` (the concurrency library is built for library
/// evolution), so a struct with a stored `ContinuousClock.Instant?` has its layout computed at
/// run time, and every copy and destroy of it (`ServerTransportStream`, `ServerContext`, once or
/// more per call) goes through value witnesses and generic metadata. `Duration` is frozen, so
/// structs holding a `CallDeadline?` have a fixed layout. The conversion is exact: both sides
/// count attoseconds.
package struct CallDeadline: Sendable, Hashable {
    /// The instant every deadline is measured from (taken once per process).
    private static let origin = ContinuousClock.now

    private let offset: Duration

    package init(_ instant: ContinuousClock.Instant) {
        offset = Self.origin.duration(to: instant)
    }

    /// `timeout` from now.
    package init(after timeout: Duration) {
        self.init(ContinuousClock.now.advanced(by: timeout))
    }

    package var instant: ContinuousClock.Instant {
        Self.origin.advanced(by: offset)
    }

    /// Whether the deadline is not ahead any more.
    package var hasPassed: Bool {
        Self.origin.duration(to: .now) >= offset
    }
}
