internal import CNghttp2

/// A header block laid out once for nghttp2 — names, values and the `nghttp2_nv` array in one
/// block of memory that lives as long as this object — and submitted without copying
/// (`NGHTTP2_NV_FLAG_NO_COPY_NAME | _VALUE`). For the blocks nearly every call sends (plain
/// response headers, OK trailers), kept in `static let`s so the memory is never freed while
/// nghttp2 may still point at it.
///
/// Safety of `@unchecked Sendable`: immutable after `init`; nghttp2 only reads the memory.
final class PreparedHeaders: @unchecked Sendable {
    let fields: [HeaderField]
    private let bytes: UnsafeMutableRawBufferPointer
    private let nameValues: UnsafeMutableBufferPointer<nghttp2_nv>

    init(_ fields: [HeaderField]) {
        self.fields = fields
        let total = fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
        bytes = .allocate(byteCount: max(total, 1), alignment: 1)
        nameValues = .allocate(capacity: max(fields.count, 1))
        var offset = 0
        for (index, field) in fields.enumerated() {
            let name = Self.copy(field.name, into: bytes, at: &offset)
            let value = Self.copy(field.value, into: bytes, at: &offset)
            nameValues.initializeElement(at: index, to: nghttp2_nv(
                name: name.pointer, value: value.pointer, namelen: name.count, valuelen: value.count,
                flags: UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)))
        }
    }

    deinit {
        bytes.deallocate()
        nameValues.deallocate()
    }

    var count: Int { fields.count }

    /// Calls `body` with the nv array.
    func withNameValues<Result>(_ body: (UnsafePointer<nghttp2_nv>, Int) -> Result) -> Result {
        body(UnsafePointer(nameValues.baseAddress!), fields.count)
    }

    private static func copy(
        _ text: String,
        into bytes: UnsafeMutableRawBufferPointer,
        at offset: inout Int
    ) -> (pointer: UnsafeMutablePointer<UInt8>, count: Int) {
        let start = (bytes.baseAddress! + offset).assumingMemoryBound(to: UInt8.self)
        var count = 0
        for byte in text.utf8 {
            start[count] = byte
            count += 1
        }
        offset += count
        return (start, count)
    }
}
