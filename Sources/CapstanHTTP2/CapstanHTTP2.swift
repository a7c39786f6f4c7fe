/// # CapstanHTTP2
///
/// The gRPC transport of Capstan: HTTP/2 on nghttp2, driven by our own epoll event loops. It
/// implements `CapstanRPC`'s `ServerTransport` and `ClientTransport`; nothing above this module
/// knows which HTTP/2 library carries the calls.
///
/// ## Shape
/// - `EventLoop/`: `EventLoop` owns one thread, one epoll fd, an eventfd to wake it, a locked queue
///   of work from other threads, and a timer heap. Every socket and every nghttp2 session belongs
///   to exactly one loop and is touched only on its thread. An `EventLoop` is also a
///   `SerialExecutor` and `TaskExecutor`, so a handler task started with the loop as its executor
///   preference decodes, handles and answers a call that never suspends without a thread hop.
///   `EventLoopGroup` holds one loop per core and hands them out round robin.
/// - `Socket/`: non-blocking TCP sockets (IPv4 and IPv6), every syscall through one helper that
///   retries `EINTR` and throws an error carrying `errno`.
/// - `GRPC/`: the gRPC-over-HTTP/2 protocol as pure functions and state machines, without I/O:
///   the 5-byte message framing across DATA frames, `grpc-timeout`, percent-encoded
///   `grpc-message`, request-header validation (415 for a non-gRPC content type, UNIMPLEMENTED for
///   a compressed message or unknown `grpc-encoding`), metadata ⇄ headers (`-bin` as base64),
///   response headers, trailers and trailers-only responses, HTTP status → gRPC code.
/// - `Nghttp2/`: the only files that touch nghttp2. A session's callbacks reach their Swift owner
///   through `user_data`; the owner is retained for the session's lifetime and released when the
///   session is deleted, on the loop thread.
/// - `Server/`: `HTTP2ServerTransport` listens, accepts onto the group's loops, and turns each
///   stream into a `ServerTransportStream`. Inbound DATA is acknowledged (WINDOW_UPDATE) only as the
///   handler consumes messages, and outbound messages suspend the handler while the stream's
///   queue is full, so HTTP/2 flow control is the back-pressure in both directions. RST_STREAM
///   cancels the handler's task. Graceful shutdown sends GOAWAY, lets calls in flight finish and
///   refuses new ones. Keepalive PINGs close connections whose peer stopped answering.
/// - `Client/`: `HTTP2ClientTransport` keeps a connection per target address, many concurrent
///   streams on each, reconnects with backoff and fails over between several addresses.
/// - TLS: connections speak cleartext HTTP/2 with prior knowledge. A connection reads and writes
///   through one byte-stream seam (`Connection`'s read/write of the socket), which is where a TLS
///   layer will sit.
