internal import CCapstanProto
internal import CProtobufC
import Glibc

/// A pass over a message's bytes before protobuf-c unpacks them, refusing valid protobuf that
/// protobuf-c would decode wrongly without saying so (`WireError.Code.unsupported`):
///
/// - a string field holding a NUL byte: protobuf-c keeps strings as C strings, so everything
///   from the NUL on would be lost;
/// - a singular message field that occurs more than once: the protobuf rule is to merge the
///   occurrences, and protobuf-c 1.4 merges them wrongly (a scalar of the first occurrence is
///   lost) or fails outright;
/// - messages nested deeper than `maximumDepth`: protobuf-c recurses once per level with no
///   limit, so a few hundred kilobytes of nesting (a recursive type such as etcd's `TxnRequest`)
///   would overflow the thread's stack.
///
/// The walk follows the message's protobuf-c descriptor; it reads each length-delimited field of
/// a known string or message type and skips everything else. Bytes that are not a valid encoding
/// end the walk without an error: protobuf-c reports those itself. This file and `CWire.swift`
/// hold the module's pointer code.
enum WireScan {
    /// The deepest nesting of messages accepted (the outermost message is depth 1).
    static let maximumDepth = 100

    /// Throws `.unsupported` naming the field's path (`spec.containers[1].command[0]`; a map's
    /// entry by its key, `metadata.annotations["note"].value`) if `bytes`, as the message
    /// `descriptor` describes, holds any of the above.
    static func check(_ bytes: UnsafeRawBufferPointer, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>) throws(WireError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        do throws(Refusal) {
            try scan(base.assumingMemoryBound(to: UInt8.self), bytes.count, descriptor, depth: 1)
        } catch {
            let path = error.path.reversed().joined(separator: ".")
            throw WireError(.unsupported, "\(path): \(error.reason)")
        }
    }

    /// What was refused, with the field names from the innermost out.
    private struct Refusal: Error {
        var reason: String
        var path: [String]
    }

    private static func scan(
        _ p: UnsafePointer<UInt8>, _ count: Int, _ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, depth: Int
    ) throws(Refusal) {
        // Field numbers of singular message fields seen: a bit each for 1...63, a list beyond.
        var seenLow: UInt64 = 0
        var seenHigh: [UInt32] = []
        var at = 0
        while at < count {
            let tagAt = at
            guard let (number, range) = nextField(p, count, &at) else { return }
            guard let range, number <= UInt64(UInt32.max),
                  let field = protobuf_c_message_descriptor_get_field(descriptor, UInt32(number))
            else { continue }
            let bytes = p + range.lowerBound
            do throws(Refusal) {
                try check(field, bytes, range.count, depth: depth, seenLow: &seenLow, seenHigh: &seenHigh)
            } catch {
                var refusal = error
                if field.pointee.label == PROTOBUF_C_LABEL_REPEATED, !refusal.path.isEmpty {
                    refusal.path[refusal.path.count - 1] += elementSuffix(field, p, before: tagAt, entry: bytes, range.count)
                }
                throw refusal
            }
        }
    }

    /// The field at `at`, moving `at` past it: its number, and for a length-delimited field the
    /// range of its bytes (nil for other wire types). Nil where the bytes stop being a valid
    /// encoding (protobuf-c reports those itself); a fixed-size field may end past `count`.
    @inline(__always)
    private static func nextField(
        _ p: UnsafePointer<UInt8>, _ count: Int, _ at: inout Int
    ) -> (number: UInt64, bytes: Range<Int>?)? {
        guard let tag = varint(p, count, &at) else { return nil }
        switch tag & 7 {
        case 0:
            guard varint(p, count, &at) != nil else { return nil }
        case 1:
            at += 8
        case 5:
            at += 4
        case 2:
            guard let length = varint(p, count, &at), length <= UInt64(count - at) else { return nil }
            let start = at
            at += Int(length)
            return (tag >> 3, start..<at)
        default:
            return nil
        }
        return (tag >> 3, nil)
    }

    private static func check(
        _ field: UnsafePointer<ProtobufCFieldDescriptor>, _ p: UnsafePointer<UInt8>, _ length: Int, depth: Int,
        seenLow: inout UInt64, seenHigh: inout [UInt32]
    ) throws(Refusal) {
        func name() -> String { String(cString: field.pointee.name) }
        switch field.pointee.type {
        case PROTOBUF_C_TYPE_STRING:
            if length > 0, let nul = memchr(p, 0, length) {
                throw Refusal(
                    reason: "a string holds a NUL byte (at offset \(UnsafeRawPointer(p).distance(to: nul)) of \(length)); "
                        + "Capstan's strings cannot hold U+0000",
                    path: [name()])
            }
        case PROTOBUF_C_TYPE_MESSAGE:
            if field.pointee.label != PROTOBUF_C_LABEL_REPEATED {
                let id = field.pointee.id
                let repeated: Bool
                if id < 64 {
                    repeated = seenLow & (1 << id) != 0
                    seenLow |= 1 << id
                } else {
                    repeated = seenHigh.contains(id)
                    seenHigh.append(id)
                }
                if repeated {
                    throw Refusal(
                        reason: "this singular message field occurs more than once; send it once (occurrences are not merged)",
                        path: [name()])
                }
            }
            guard depth < maximumDepth else {
                throw Refusal(reason: "messages are nested more than \(maximumDepth) deep", path: [name()])
            }
            guard let sub = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self) else { return }
            do throws(Refusal) {
                try scan(p, length, sub, depth: depth + 1)
            } catch {
                var refusal = error
                refusal.path.append(name())
                throw refusal
            }
        default:
            return
        }
    }

    /// Which element of a repeated field the refused occurrence (its tag at `before`) is, for the
    /// error's path (worked out only when something was refused): `[2]` for the third occurrence, and
    /// `["key"]` for a map's entry with a string key.
    private static func elementSuffix(
        _ field: UnsafePointer<ProtobufCFieldDescriptor>, _ p: UnsafePointer<UInt8>, before end: Int,
        entry: UnsafePointer<UInt8>, _ length: Int
    ) -> String {
        if let key = mapKey(field, entry, length) { return "[\"\(key)\"]" }
        var index = 0
        var at = 0
        while at < end {
            guard let (number, bytes) = nextField(p, end, &at) else { return "" }
            if number == UInt64(field.pointee.id), bytes != nil { index += 1 }
        }
        return "[\(index)]"
    }

    /// The string key of a map entry (a message `…Entry` whose field 1 is a string key).
    private static func mapKey(_ field: UnsafePointer<ProtobufCFieldDescriptor>, _ p: UnsafePointer<UInt8>, _ count: Int) -> String? {
        guard field.pointee.type == PROTOBUF_C_TYPE_MESSAGE,
              let sub = field.pointee.descriptor?.assumingMemoryBound(to: ProtobufCMessageDescriptor.self),
              sub.pointee.n_fields == 2,
              String(cString: sub.pointee.name).hasSuffix("Entry"),
              let key = protobuf_c_message_descriptor_get_field(sub, 1), key.pointee.type == PROTOBUF_C_TYPE_STRING
        else { return nil }
        var found: String?
        var at = 0
        while at < count {
            guard let (number, bytes) = nextField(p, count, &at) else { return found }
            if number == 1, let bytes {
                found = quotedKey(UnsafeBufferPointer(start: p + bytes.lowerBound, count: bytes.count))
            }
        }
        return found
    }

    /// The longest map key shown in a path, in bytes: the path goes back in the status message,
    /// whose size a client's header limit bounds (gRPC's clients take 8–16 KiB).
    static let maximumKeyShown = 64

    /// A map key as shown in a path: up to the first NUL and `maximumKeyShown` bytes (then "…"),
    /// `"` and `\` escaped with a backslash.
    private static func quotedKey(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let key = bytes.prefix { $0 != 0 }
        var shown = String(decoding: key.prefix(maximumKeyShown), as: UTF8.self)
        if key.count > maximumKeyShown { shown += "…" }
        var quoted = ""
        for character in shown {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.append(character)
        }
        return quoted
    }

    /// The varint at `at` (advancing past it); nil if it runs past the end or over ten bytes.
    @inline(__always)
    private static func varint(_ p: UnsafePointer<UInt8>, _ count: Int, _ at: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while at < count && shift < 70 {
            let byte = p[at]
            at += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
