/// # CapstanInterop
///
/// gRPC's interop test service (`grpc.testing.TestService`, schemas in `proto/grpc/testing`) and
/// the interop test cases as a client runs them, over any `CapstanRPC` transport. The
/// `capstan-interop` program runs them over HTTP/2 against any gRPC peer.
