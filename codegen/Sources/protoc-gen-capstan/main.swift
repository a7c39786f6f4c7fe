// protoc-gen-capstan: protoc plugin that generates Capstan's Swift types, protobuf-c conversions,
// reflection descriptors and service code. protoc runs it as `--capstan_out=DIR --capstan_opt=...`.
import CapstanCodegen

#if canImport(Glibc)
import Glibc
#endif

var input: [UInt8] = []
var buffer = [UInt8](repeating: 0, count: 65536)
while true {
    let n = read(0, &buffer, buffer.count)
    if n < 0 {
        if errno == EINTR { continue }
        let message = Array("protoc-gen-capstan: reading the request failed (errno \(errno))\n".utf8)
        _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(1)
    }
    if n == 0 { break }
    input.append(contentsOf: buffer[0..<n])
}

let response: CodeGeneratorResponse
do {
    let generator = try Generator(request: try CodeGeneratorRequest(input))
    response = CodeGeneratorResponse(files: try generator.generate())
} catch {
    response = CodeGeneratorResponse(error: "protoc-gen-capstan: \(error)")
}

var output = response.serialized()
var written = 0
while written < output.count {
    let n = output[written...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    if n < 0 {
        if errno == EINTR { continue }
        exit(1)
    }
    written += n
}
