/// # CapstanRPC
///
/// Transport-agnostic gRPC for Capstan: everything about a call except how its bytes travel.
///
/// ## Shape
/// - **Vocabulary**: `RPCCode`, `RPCStatus`, `RPCError` (status + `grpc-status-details-bin` bytes +
///   trailers), `Metadata` (validated, ordered, ASCII and `-bin` entries).
/// - **Descriptors**: `MethodDescriptor<Request, Response>` (typed, used by generated code),
///   `AnyMethodDescriptor` (erased, used by routing, interceptors, reflection), `ServiceDescriptor`.
/// - **Server**: `RPCRouter` maps paths to typed handlers (or to a fixed status); `RPCServer` runs
///   each stream a `ServerTransport` accepts through the `ServerInterceptor` chain into its handler,
///   enforcing the deadline and the request-count rules of the method's `StreamingKind`. Handlers
///   see `ServerContext`, `RequestStream` (inbound, back-pressured) and `ResponseStream` (outbound,
///   suspends while the peer's buffer is full). Unary methods take a fast path (`RPCServer`'s
///   notes): request bytes in, response bytes out, the whole response handed to the writer at once.
///   A unary method may also register an immediate handler (`ImmediateMethod`): a transport that
///   holds complete requests (`ImmediateCallTransport`, the HTTP/2 one) offers it the request on
///   its own thread with no task, and it answers there or hands the call to the general path.
///   Executor hops: the transport's stream handler, unary handlers (`RPCRouter.unary`,
///   `unaryBytes`) and the generated handler protocols' methods are `nonisolated(nonsending)`, so
///   none hops to the global executor on entry. Each `await` of an async call that code follows
///   still costs an executor check when the callee returns (`swift_task_switch`, which locks the
///   task's status records when the task prefers an executor, as HTTP/2 handler tasks do), so the
///   unary path keeps few async frames: generated code registers a unary method as one bytes-to-bytes
///   closure (`unaryBytes`), and the deadline is stored as `CallDeadline` (a frozen type; the
///   library-evolution `ContinuousClock.Instant` would make every copy of the stream and context
///   go through value witnesses).
/// - **Client**: `RPCClient` opens a stream through the `ClientInterceptor` chain on a
///   `ClientTransport` and exposes typed calls (`unary`, `ServerStreamingCall`,
///   `ClientStreamingCall`, `BidirectionalCall`). Deadlines are enforced locally too; cancelling the
///   caller's task or dropping a call object resets the stream.
/// - **Transport boundary**: byte level only. A server transport hands over a
///   `ServerTransportStream` (path, metadata, deadline, peer, inbound message bytes as an
///   `AsyncSequence`, a `ServerStreamWriter` for headers, messages and the final status) and cancels
///   the task serving it when the peer resets the stream. A client transport returns a
///   `ClientTransportStream` (a `ClientStreamWriter` plus `ClientResponsePart`s). Framing, HTTP/2 and
///   `grpc-*` headers stay inside transports.
/// - **Standard services** (`Standard/`): `HealthService` (`grpc.health.v1.Health`) and
///   `ReflectionService` (`grpc.reflection.v1alpha` and `v1`, answered from `ProtoFileDescriptor`s);
///   `RPCRouter.addStandardServices(health:descriptors:)` installs both after the application's services.
/// - **Observability** (`Observability/`): `RequestLogObserver` logs one swift-log record per
///   call (method, status code, latency, peer, message counts of streams, error message) at a level
///   chosen by the code; `MetricsObserver` fills `RPCMetrics`: per method, finished calls by code,
///   a fixed-bucket latency histogram, calls in flight and messages each way, read structured
///   (`MetricsService`, `capstan.v1.Metrics`) or as Prometheus text. Both are `CallObserver`s, which
///   `RPCServer` calls synchronously at a call's start and end on every path (the unary fast path
///   stays on) with the status its single `finish` recorded, so a deadline that ended the call is
///   `DEADLINE_EXCEEDED` even when the handler then failed. Calls without a route count under
///   `unknown`/`unknown`. `RequestLogInterceptor` and `MetricsInterceptor` do the same as
///   interceptors (which turn the fast path off). `LineLogHandler` writes records as
///   `key=value` text or JSON lines to standard error.
/// - **InProcessTransport**: a connected client/server pair over bounded in-memory buffers, so
///   back-pressure and cancellation behave as they would over a network; used by tests.
///
/// ## Error rules
/// A handler's `RPCError` reaches the client as is; an `RPCErrorConvertible` error converts itself;
/// `CancellationError` becomes `CANCELLED`; anything else becomes `UNKNOWN`.
