/// Emits the enum that holds the set case of a oneof.
struct OneofGenerator {
    let name: String
    let message: MessageDescriptor
    let members: [FieldPlan]

    /// `handler` → `Handler`; `OneOf_` is prefixed when a nested type already has that name.
    static func typeName(_ oneof: String, in message: MessageDescriptor) -> String {
        let base = Names.upperCamel(oneof)
        let taken = Set(message.nestedTypes.map(\.name) + message.enums.map(\.name))
        return taken.contains(base) || Names.reservedNestedTypeNames.contains(base) ? "OneOf_" + base : base
    }

    /// Whether a case can hold the containing message again (through singular or oneof fields),
    /// which needs `indirect` to give the enum a finite size.
    let recursive: Bool

    func generate(into p: inout Printer) {
        p.line("/// The set case of oneof `\(name)`.")
        let indirect = recursive ? "indirect " : ""
        p.block("public \(indirect)enum \(Self.typeName(name, in: message)): Hashable, Sendable") { p in
            for m in members { p.line("case \(Names.escaped(m.name))(\(m.swiftType))") }
        }
    }
}
