import CapstanAPI
@testable import CapstanRPC
import CapstanWire
import Testing

/// Reading names out of serialized `FileDescriptorProto`s, and the index reflection answers from.
@Suite("Standard: reflection index")
struct StandardReflectionIndexTests {
    typealias Symbol = FileDescriptorSymbols.Symbol

    @Test("every embedded descriptor parses to the generated symbol list, plus map entry messages")
    func agreesWithGeneratedSymbols() throws {
        let definitions: Set<FileDescriptorSymbols.Kind> = [.message, .enumeration, .service, .method]
        for file in CapstanFileDescriptors.all {
            let parsed = try FileDescriptorSymbols(serialized: file.serialized)
            let named = parsed.symbols.filter { definitions.contains($0.kind) }.map(\.name)
            // protoc also describes each map field's entry as a nested message (`LabelsEntry`),
            // which reflection must resolve and the generated list leaves out.
            let extra = Set(named).subtracting(file.symbols)
            #expect(Set(file.symbols).isSubset(of: named), "\(file.name)")
            #expect(extra.allSatisfy { $0.hasSuffix("Entry") }, "\(file.name): \(extra)")
            #expect(named.count == Set(named).count, "\(file.name) names a symbol twice")
            #expect(parsed.extensions.isEmpty, "\(file.name)")
        }
    }

    @Test("embedded descriptors include every file they import")
    func dependenciesAreClosed() {
        let names = Set(CapstanFileDescriptors.all.map(\.name))
        for file in CapstanFileDescriptors.all {
            #expect(Set(file.dependencies).isSubset(of: names), "\(file.name) imports \(file.dependencies)")
        }
    }

    @Test("fields, oneofs, enum values and extensions are scoped as protobuf scopes them")
    func scopes() throws {
        let pod = try FileDescriptorSymbols(serialized: ProtoFileDescriptor.capstan_v1_pod.serialized)
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.Pod.metadata", kind: .field)))
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.Probe.handler", kind: .oneof)))
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.POD_PHASE_RUNNING", kind: .enumValue)))
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.Pods.Watch", kind: .method)))
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.PodSpec.NodeSelectorEntry", kind: .message)))
        #expect(pod.symbols.contains(Symbol(name: "capstan.v1.PodSpec.NodeSelectorEntry.key", kind: .field)))

        let base = try FileDescriptorSymbols(serialized: ExtensionFixtures.base)
        #expect(base.symbols == [
            Symbol(name: "test.Base", kind: .message),
            Symbol(name: "test.Base.id", kind: .field),
            Symbol(name: "test.Base.Kind", kind: .enumeration),
            Symbol(name: "test.Base.KIND_A", kind: .enumValue),
            Symbol(name: "test.note", kind: .extension),
        ])
        #expect(base.extensions == [.init(extendee: "test.Base", number: 100)])

        let more = try FileDescriptorSymbols(serialized: ExtensionFixtures.more)
        #expect(more.symbols == [
            Symbol(name: "test.more.Holder", kind: .message),
            Symbol(name: "test.more.Holder.a", kind: .field),
            Symbol(name: "test.more.Holder.choice", kind: .oneof),
            Symbol(name: "test.more.Holder.count", kind: .extension),
        ])
        #expect(more.extensions == [.init(extendee: "test.Base", number: 101)])
    }

    @Test("malformed descriptor bytes are rejected, not misread")
    func malformed() throws {
        let cases: [String: [UInt8]] = [
            "truncated": Array(ExtensionFixtures.base.dropLast()),
            "length past the end": [0x22, 0x05, 0x0A],
            "unterminated varint": [0x08, 0xFF, 0xFF],
            "group wire type": [0x0B, 0x0C],
            "field number 0": [0x02, 0x00],
            "invalid UTF-8 name": ProtoWriter.message { $0.bytes(2, [0xC3, 0x28]) },
        ]
        for (label, bytes) in cases {
            #expect(throws: ProtoWireReader.Malformed.self, "\(label)") { try FileDescriptorSymbols(serialized: bytes) }
        }
        // An empty file (no package, nothing defined) is valid.
        #expect(try FileDescriptorSymbols(serialized: []).symbols.isEmpty)
    }

    @Test("a file whose bytes cannot be read stays findable by its generated symbol list")
    func unreadableFileFallsBack() {
        let broken = ProtoFileDescriptor(name: "x/broken.proto", package: "x", symbols: ["x.Thing"], serialized: [0x0B])
        let index = ReflectionIndex([broken])
        #expect(index.file(containingSymbol: "x.Thing") == "x/broken.proto")
        #expect(!index.isMessage("x.Thing"), "its kind is unknown")
        #expect(index.serializedWithDependencies("x/broken.proto") == [[0x0B]])
    }

    @Test("first descriptor wins a duplicate name; a missing dependency is left out")
    func duplicatesAndGaps() {
        let first = ProtoFileDescriptor(name: "a.proto", package: "", dependencies: ["missing.proto", "b.proto"], serialized: [])
        let second = ProtoFileDescriptor(name: "a.proto", package: "", serialized: ProtoWriter.message { $0.string(1, "a.proto") })
        let b = ProtoFileDescriptor(name: "b.proto", package: "", dependencies: ["a.proto"], serialized: ProtoWriter.message { $0.string(1, "b.proto") })
        let index = ReflectionIndex([first, second, b])
        #expect(index.file(named: "a.proto") == first)
        // a → missing (skipped) → b → a (already sent): each file once, cycles end.
        #expect(index.serializedWithDependencies("a.proto") == [first.serialized, b.serialized])
        #expect(index.serializedWithDependencies("missing.proto").isEmpty)
    }

    @Test("answers for the neutral queries, independent of the package")
    func answers() {
        let index = ReflectionIndex(CapstanFileDescriptors.all + ExtensionFixtures.descriptors)
        #expect(index.answer(.listServices, services: ["s"]) == .services(["s"]))
        #expect(index.answer(.allExtensionNumbersOfType("test.Base"), services: [])
            == .extensionNumbers(baseType: "test.Base", numbers: [100, 101]))
        #expect(index.answer(.fileContainingExtension(type: "test.Base", number: 100), services: [])
            == .files([ExtensionFixtures.base]))
        guard case .error(let code, _) = index.answer(.unrecognized, services: []) else {
            Issue.record("an unrecognized query is an error")
            return
        }
        #expect(code == .unimplemented)
    }
}
