/// One HTTP/2 header field as nghttp2 hands it over (names lower-case).
///
/// Header blocks are `[HeaderField]` in wire order: pseudo-headers (`:method`, `:status`, …) first.
struct HeaderField: Hashable, Sendable, CustomStringConvertible {
    /// The field name, lower-case (HTTP/2 forbids upper-case names).
    var name: String
    /// The field value, as sent.
    var value: String

    /// A field with `name` and `value`.
    init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    var description: String { "\(name): \(value)" }
}

extension [HeaderField] {
    /// The value of the first field called `name`, if any.
    func first(_ name: String) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }
}
