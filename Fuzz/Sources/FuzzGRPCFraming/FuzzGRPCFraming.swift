// Fuzzes the gRPC-over-HTTP/2 protocol code with one input read two ways: as DATA bytes fed to the
// deframer in chunks whose sizes the input chooses (chunked and whole deframing must agree), and
// as a header block of `name:value` lines validated as a request and read as a response (a
// request accepted must survive being rebuilt by the client side). Nothing may crash.
import CapstanHTTP2

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGRPCFraming(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    GRPCFuzzEntry.deframe(input)
    GRPCFuzzEntry.parseRequestHeaders(input)
    return 0
}
