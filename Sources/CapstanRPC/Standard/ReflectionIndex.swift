import CapstanWire

/// The lookups server reflection answers, over a fixed set of file descriptors: files by name,
/// the file defining a symbol, extensions by the message they extend, and the transitive
/// dependencies of a file.
struct ReflectionIndex: Sendable {
    private struct SymbolEntry: Sendable {
        let file: String
        /// `nil` for a symbol known only from `ProtoFileDescriptor.symbols` (its file's bytes
        /// could not be read), which is found but never treated as a message type.
        let kind: FileDescriptorSymbols.Kind?
    }

    private var files: [String: ProtoFileDescriptor] = [:]
    private var symbols: [String: SymbolEntry] = [:]
    /// Extension numbers by extended message, each with the file declaring it.
    private var extensions: [String: [Int32: String]] = [:]

    /// Indexes `descriptors`. When two descriptors share a file name, or two files define the same
    /// symbol, the first one wins (a valid descriptor set has neither).
    init(_ descriptors: [ProtoFileDescriptor]) {
        for file in descriptors where files[file.name] == nil {
            files[file.name] = file
            if let parsed = try? FileDescriptorSymbols(serialized: file.serialized) {
                for symbol in parsed.symbols where symbols[symbol.name] == nil {
                    symbols[symbol.name] = SymbolEntry(file: file.name, kind: symbol.kind)
                }
                for ext in parsed.extensions where extensions[ext.extendee]?[ext.number] == nil {
                    extensions[ext.extendee, default: [:]][ext.number] = file.name
                }
            }
            // The generated list needs no parsing; it keeps a file whose bytes could not be read findable.
            for symbol in file.symbols where symbols[symbol] == nil {
                symbols[symbol] = SymbolEntry(file: file.name, kind: nil)
            }
        }
    }

    /// The file named `name`, e.g. `capstan/v1/pod.proto`.
    func file(named name: String) -> ProtoFileDescriptor? {
        files[name]
    }

    /// The name of the file defining `symbol`: a message, enum, enum value, field, oneof,
    /// service, method or extension, fully qualified (`capstan.v1.Pods.Create`).
    func file(containingSymbol symbol: String) -> String? {
        symbols[symbol]?.file
    }

    /// Whether `name` is a message type.
    func isMessage(_ name: String) -> Bool {
        symbols[name]?.kind == .message
    }

    /// The name of the file declaring extension `number` of message `type`.
    func file(containingExtension number: Int32, of type: String) -> String? {
        extensions[type]?[number]
    }

    /// Every extension number declared for message `type`, ascending.
    func extensionNumbers(of type: String) -> [Int32] {
        extensions[type, default: [:]].keys.sorted()
    }

    /// The serialized descriptors of `name` and of everything it imports, transitively, each once:
    /// the file first, then each dependency followed by its own (grpc's order). Dependencies
    /// missing from the index are left out.
    func serializedWithDependencies(_ name: String) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted, let file = files[next] else { continue }
            result.append(file.serialized)
            pending.append(contentsOf: file.dependencies.reversed())
        }
        return result
    }
}
