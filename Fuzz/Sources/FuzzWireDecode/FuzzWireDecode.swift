// Fuzzes the binary decoder of every message type, Capstan's and the gRPC interop tests' (which
// interop peers send us). The first byte picks the type, the rest is the input. Decoding may fail
// (with a WireError) but must not crash or leak; whatever decodes must survive re-encoding
// unchanged, in binary and, where it has a JSON form, in JSON.
import CapstanAPI
import CapstanInterop
import CapstanWire
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecode(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let type = messageTypes[Int(input[0]) % messageTypes.count]
    let body = UnsafeRawBufferPointer(rebasing: input[1...])
    check(type, body)
    return 0
}

private let messageTypes = CapstanFileDescriptors.messageTypes + InteropFileDescriptors.messageTypes

private func check<M: WireMessage>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) {
    guard let message = try? M(serializedBytes: bytes) else { return }
    let encoded = message.serializedBytes()
    guard let again = try? M(serializedBytes: encoded), again.serializedBytes() == encoded else {
        fatalError("\(M.protoMessageName): decoding its own encoding changed it")
    }
    // Values without a JSON form (a timestamp past year 9999, say) fail to encode; that is allowed.
    // Keys are sorted: an unsorted encoder may order one message's keys differently each time.
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    guard let json = try? encoder.encode(message) else { return }
    guard let fromJSON = try? JSONDecoder().decode(M.self, from: json) else {
        fatalError("\(M.protoMessageName): its own JSON does not decode: \(String(decoding: json, as: UTF8.self))")
    }
    // A NaN's payload bits have no JSON spelling ("NaN" decodes to the canonical NaN), so where
    // the bytes differ the message must at least give the very same JSON again.
    guard fromJSON.serializedBytes() == encoded || (try? encoder.encode(fromJSON)) == json else {
        fatalError("\(M.protoMessageName): JSON round trip changed it: \(String(decoding: json, as: UTF8.self))")
    }
}
