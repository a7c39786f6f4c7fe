/// # CapstanInterop
///
/// gRPC's interop test service (`grpc.testing.TestService`, schemas in `proto/grpc/testing`) and
/// the interop test cases as a client runs them, over any `CapstanRPC` transport. The
/// `capstan-interop` program runs them over HTTP/2 against any gRPC peer.
///
/// ## Shape
/// - **Server**: `InteropTestService` implements `Grpc_Testing_TestService.Handler` as gRPC's
///   reference interop servers do (`InteropPayload` builds and checks payloads, `InteropEcho`
///   echoes metadata and requested statuses). Register it with `register(on:)`.
/// - **Client**: `InteropTestCase` names each case (raw value = the runner's `--test_case`);
///   `run(using:)` performs it over an `RPCClient` and throws `InteropFailure` naming the case and
///   what differed.
/// - **Command line**: `InteropCommandLine` parses the runner's flags (`server --port N`,
///   `client --server_host H --server_port N --test_case NAME|all`) without doing I/O.
