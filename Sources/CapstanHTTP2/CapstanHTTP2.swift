/// # CapstanHTTP2
///
/// The gRPC transport of Capstan: HTTP/2 on nghttp2, driven by our own epoll event loops. It
/// implements `CapstanRPC`'s `ServerTransport` (`HTTP2ServerTransport`) and `ClientTransport`
/// (`HTTP2ClientTransport`); nothing above this module knows which HTTP/2 library carries the
/// calls.
///
/// ## Shape
/// - `EventLoop/`: `EventLoop` owns one thread, one epoll fd, an eventfd to wake it (written
///   only when the loop may be asleep: a wake-pending flag under the queue's lock), a locked
///   queue of work from other threads plus an unlocked one for its own thread, a timer heap with
///   cancellable timers, and an end-of-tick list (connections flush there, once per tick, after
///   the tick's handler jobs ran). Every socket and every nghttp2 session belongs to exactly one
///   loop and is touched only on its thread. An `EventLoop` is also a `TaskExecutor` and a
///   `SerialExecutor`: a handler task started with the loop as its executor preference decodes,
///   handles and answers a call that never suspends on the loop's thread, in the same tick.
///   (Jobs run as task-executor jobs, without claiming serial isolation, so a nonisolated
///   `await` inside a handler does not bounce through the queue; actors on the loop still run
///   there, serially.) `EventLoopGroup` holds one loop per core and hands them out round robin;
///   `shutdown()` stops and joins them.
/// - `Socket/`: the OS boundary, with `Nghttp2/` the only place for raw pointers. Every system
///   call goes through `System.call`, which retries `EINTR` and throws `HTTP2TransportError`
///   carrying `errno`. Non-blocking TCP (IPv4 and IPv6; `TCP_NODELAY`, `SO_REUSEADDR`), address
///   parsing (`host:port`, `[v6]:port`, numeric or `localhost`: resolving names would block a
///   loop), epoll, eventfd and threads (through the `CLinux` shim for what Glibc does not
///   import), the per-loop read and write buffers (a connection has a write buffer of its own
///   only while its socket is full, so idle connections cost little memory). `ProcessTuning` holds
///   the process-wide allocator setting a server's `main` should apply (glibc otherwise trims the
///   loop threads' heaps after every burst of calls: an `mprotect` per few requests).
/// - `GRPC/`: the gRPC-over-HTTP/2 protocol as pure functions and state machines, without I/O:
///   the 5-byte message framing across DATA frames, `grpc-timeout`, percent-encoded
///   `grpc-message`, request-header validation (415 for a non-gRPC content type, UNIMPLEMENTED for
///   a compressed message or unknown `grpc-encoding`), metadata ⇄ headers (`-bin` as base64),
///   response headers, trailers and trailers-only responses, HTTP status → gRPC code.
/// - `Nghttp2/`: the only files that touch nghttp2. `Session` wraps one `nghttp2_session`; its
///   callbacks reach it through `user_data`: it is retained for the session's lifetime and
///   released when the session is deleted, on the loop thread, and it reports to its connection
///   (`SessionDelegate`). Inbound flow control is ours (`no_auto_window_update`): connection
///   window is returned at once, a stream's window only as its reader makes room. Outbound DATA
///   comes from the stream's `StreamOutbound` queue through one data provider that answers
///   `NGHTTP2_ERR_DEFERRED` when the queue is empty and is resumed when data (or the end)
///   arrives; trailers are submitted from the provider once the queue drained. Header blocks
///   most calls send are laid out once (`PreparedHeaders`) and submitted without copying.
///   Received header fields reach the connection as bytes valid during the callback
///   (`HeaderBytes`); nghttp2 allocates from its loop's pool (`Nghttp2Memory`) and keeps no
///   closed streams.
/// - `Connection/`: `HTTP2Connection`, one socket + session on one loop: reads into the loop's
///   buffer and feeds nghttp2 at once; produces and writes output once per tick (until the
///   socket is full, then on EPOLLOUT); keepalive PINGs; closes are deferred while nghttp2 is on
///   the stack. `StreamInbox` carries a stream's inbound parts to one reader on any thread, with
///   the window-returning rule above (the back-pressure for inbound data). The byte-stream seam
///   (`readAvailable` / `flush`) is where a TLS layer will sit.
/// - `Server/`: `HTTP2ServerTransport` binds in `init` (port 0 → `localPort`), accepts in
///   `listen` onto the group's loops, and turns each stream into a `ServerTransportStream`
///   (headers validated by `GRPCRequestHeaders`: HTTP status for non-gRPC requests, trailers-only
///   for gRPC-level rejections; deadline from `grpc-timeout`; peer `ipv4:…`/`ipv6:[…]:…`). The
///   core's handler runs in a task preferring the connection's loop. Headers are validated field
///   by field as bytes, in place (only `:path` and metadata become strings, the path and keys
///   from a per-connection cache of recent texts); a request message that arrives whole in one DATA chunk
///   is taken without buffering, and the stream offers its complete request to the core without
///   suspending (`immediateRequests`), so the core's unary fast path reads, handles and answers
///   (`finishUnary`: headers, message and trailers queued at once) in one run of the task. A method
///   with an immediate handler (`ImmediateMethod`) starts no task: the stream is held until the
///   client half-closes, then its request is offered to the handler on the loop, and a task
///   starts only if the handler declines (or a second message arrives). A writer whose stream
///   queues more than `outboundBufferSize` suspends until nghttp2 drained it. RST_STREAM or
///   connection loss cancels the handler's task; a corrupt or oversized request ends the call
///   with the deframer's status and resets the stream; a response that ends while the client is
///   still sending is followed by RST_STREAM(NO_ERROR), as gRPC does. SETTINGS limit concurrent
///   streams (nghttp2 refuses the rest with REFUSED_STREAM). Graceful shutdown: the listener
///   closes, each connection sends GOAWAY twice (a notice, then after a PING round trip the last
///   stream id), calls in flight finish, and `listen` returns once the last connection closed
///   and the last handler returned.
/// - `MetricsEndpoint/`: `MetricsEndpoint`, a plain HTTP/1.1 listener for Prometheus scrapes
///   (`GET /metrics`) on a thread of its own, apart from the HTTP/2 loops: one `poll` over the
///   listener, an eventfd for `stop()` and at most 16 connections, each answered once and closed
///   (FIN, then it reads until the peer closes, so unread request bytes cannot reset the response),
///   bounded in head size (431) and time (5 s). Request parsing and routing are pure
///   (`PlainHTTPRequest`, `MetricsRoute`); its socket calls are in `Socket/PlainIO.swift`.
/// - `Client/`: `HTTP2ClientTransport` keeps connections per target address (opened lazily,
///   ready once the server's SETTINGS arrived), many concurrent streams on each and a new
///   connection once one carries as many streams as the server allows; `ConnectionPool` reserves
///   a stream slot per call, backs a target off exponentially (with jitter) after a failed
///   connect and fails over to the next target; calls wait for their connection no longer than
///   their deadline and fail with UNAVAILABLE when no target is reachable or their connection is
///   lost. `close()` drains: calls in flight finish, new ones are refused.
/// - TLS: connections speak cleartext HTTP/2 with prior knowledge (h2c).
