import ArgumentParser
import CapstanAPI
import CapstanHTTP2
import CapstanRPC
import CapstanWire

/// What create and update do with each object of a manifest.
enum ManifestVerb: Sendable {
    case create, update

    var pastTense: String { self == .create ? "created" : "updated" }
}

/// Reads `files`, checks every object (decoding, defaults and the API's validation, the same code
/// the server runs) and only then sends them one by one; nothing is sent when any check fails.
func applyManifests(files: [String], verb: ManifestVerb, global: GlobalOptions, checkLocally: Bool) async throws {
    let console = Console.current
    guard !files.isEmpty else { throw CapctlError.usage("-f FILE is required (- for standard input)") }
    let objects = try Manifest.load(paths: files, console: console)
    let settings = try global.settings()
    var prepared: [(ManifestObject, any CLIResource)] = []
    for item in objects {
        try settings.checkNamespace(of: item.object.metadata, kind: item.kind, origin: item.origin)
        let object = try prepare(item.object, item: item, namespace: settings.namespace, verb: verb, checkLocally: checkLocally)
        prepared.append((item, object))
    }
    try await global.withConnection { connection, _ in
        var failures = 0
        for (index, (item, object)) in prepared.enumerated() {
            do {
                let stored = try await send(object, verb: verb, connection: connection)
                console.line("\(item.kind.singular)/\(stored) \(verb.pastTense)")
            } catch let error as RPCError {
                console.error(console.colored("error: ", .red) + "\(item.origin): " + BatchWrite.describe(error))
                failures += 1
                if BatchWrite.stops(at: error, remaining: prepared.count - index - 1, console: console) { break }
            }
        }
        if failures > 0 { throw CapctlError.failed(count: failures) }
    }
}

/// How a command that writes one object after another (`create`, `update`, `delete`) treats a
/// write that failed because the server could not be reached or did not answer in time.
enum BatchWrite {
    /// Whether the rest are not sent after `error` (saying so when there are any): every one of
    /// them would wait its own retries and deadline for the same answer.
    static func stops(at error: RPCError, remaining: Int, console: Console) -> Bool {
        guard serverDidNotAnswer(error) else { return false }
        if remaining > 0 {
            let objects = remaining == 1 ? "1 more object" : "\(remaining) more objects"
            console.error(console.colored("error: ", .red) + "stopped: \(objects) not sent")
        }
        return true
    }

    /// Whether the call failed for want of a server that could take it: none reachable, or
    /// none that answered in time.
    static func serverDidNotAnswer(_ error: RPCError) -> Bool {
        error.code == .unavailable || error.code == .deadlineExceeded
    }

    /// The error, and whether the write may have taken effect though it failed (the request
    /// may have reached the server before the connection was lost or the deadline passed).
    static func describe(_ error: RPCError) -> String {
        let text = CapctlError.describe(error)
        // (A server's own answer ending "; retry" refused the write before making it.)
        guard serverDidNotAnswer(error), !error.isUnprocessed,
            !error.message.contains("may still take effect"), !error.message.hasSuffix("; retry")
        else { return text }
        return text + "\n  the write may have taken effect: check with capctl get before repeating it"
    }
}

/// Fills the namespace and checks the object as the server would.
private func prepare<R: CLIResource>(
    _ object: R, item: ManifestObject, namespace: String, verb: ManifestVerb, checkLocally: Bool
) throws(CapctlError) -> any CLIResource {
    var object = object
    if R.kind.isNamespaced && object.metadata.namespace.isEmpty { object.metadata.namespace = namespace }
    if verb == .update && R.updateMethod == nil {
        throw .manifest("\(item.origin): \(R.kind.plural) cannot be updated: delete and re-create")
    }
    if verb == .update && object.metadata.name.isEmpty {
        throw .manifest("\(item.origin): metadata.name: an update needs the object's name")
    }
    // What the transport would refuse, or the server for its size, is found before anything is sent.
    let encoded: [UInt8]
    do {
        encoded = try object.wholeSerializedBytes()
    } catch {
        throw .manifest("\(item.origin): cannot be sent: \(error)")
    }
    if encoded.count > defaultMaxObjectBytes {
        throw .manifest(
            "\(item.origin): the \(R.kind.singular) is \(encoded.count) bytes encoded; the API server takes objects up to "
                + "\(defaultMaxObjectBytes) bytes (\(defaultMaxObjectBytes >> 20) MiB)")
    }
    guard checkLocally else { return object }
    var checked = object
    // What the server will do (its random suffix, here a fixed one): a name only from a good
    // prefix, so a bad one is reported alone.
    let prefix = checked.metadata.generateName
    if checked.metadata.name.isEmpty, !prefix.isEmpty, Validation.generateNameViolation(prefix) == nil {
        checked.metadata.name = NameGenerator.generate(prefix: prefix, random: 0)
    }
    checked.applyDefaults()
    let errors = checked.validate().all
    if !errors.isEmpty {
        let name = object.metadata.name.isEmpty ? object.metadata.generateName + "…" : object.metadata.name
        let lines = errors.map { "  \($0.path): \($0.reason)" }.joined(separator: "\n")
        throw .manifest("\(item.origin): \(R.kind.singular) \"\(name)\" is invalid:\n\(lines)")
    }
    return object
}

/// Sends one object; returns the stored object's name.
private func send<R: CLIResource>(_ object: R, verb: ManifestVerb, connection: APIConnection) async throws -> String {
    switch verb {
    case .create: try await connection.create(object).metadata.name
    case .update: try await connection.update(object).metadata.name
    }
}

/// `capctl create -f FILE…`.
struct CreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create objects from YAML or JSON manifests (kind: picks the type).")

    @Option(
        name: [.short, .customLong("filename")], help: "A manifest file, a directory of them, or - for standard input (repeatable).",
        completion: .file(extensions: ["yaml", "yml", "json"]))
    var files: [String] = []

    @Flag(name: .customLong("skip-local-validation"), help: .hidden)
    var skipLocalValidation = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await applyManifests(files: files, verb: .create, global: global, checkLocally: !skipLocalValidation)
    }
}

/// `capctl update -f FILE…`.
struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Replace objects with the manifests' versions (metadata.resource_version 0 or absent: unconditional).")

    @Option(
        name: [.short, .customLong("filename")], help: "A manifest file, a directory of them, or - for standard input (repeatable).",
        completion: .file(extensions: ["yaml", "yml", "json"]))
    var files: [String] = []

    @Flag(name: .customLong("skip-local-validation"), help: .hidden)
    var skipLocalValidation = false

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await applyManifests(files: files, verb: .update, global: global, checkLocally: !skipLocalValidation)
    }
}

/// `capctl delete KIND NAME…`, `capctl delete KIND -l SELECTOR`, `capctl delete -f FILE`.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete objects by name, by label selector, or named in manifests.")

    @Argument(help: "KIND, then NAMEs; or KIND/NAMEs (not with -f).", completion: Kind.completion)
    var arguments: [String] = []

    @Option(
        name: [.short, .customLong("filename")], help: "Delete the objects a manifest names (- for standard input).",
        completion: .file(extensions: ["yaml", "yml", "json"]))
    var files: [String] = []

    @Option(name: [.customShort("l"), .customLong("selector")], help: "Delete every object of KIND matching this label selector.")
    var selector: String?

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let console = Console.current
        // `origin`: the manifest document that named the object, for messages.
        var targets: [(kind: Kind, namespace: String?, name: String, origin: String?)] = []
        if !files.isEmpty {
            guard arguments.isEmpty, selector == nil else {
                throw CapctlError.usage("-f cannot be combined with KIND, NAME or -l")
            }
            // Last first: what a manifest creates in order (a minion, then pods on it) goes in reverse.
            let settings = try global.settings()
            for item in try Manifest.load(paths: files, console: console).reversed() {
                let meta = item.object.metadata
                try settings.checkNamespace(of: meta, kind: item.kind, origin: item.origin)
                guard !meta.name.isEmpty else { throw CapctlError.manifest("\(item.origin): metadata.name is needed to delete") }
                targets.append((item.kind, meta.namespace.isEmpty ? nil : meta.namespace, meta.name, "\(item.origin)"))
            }
        } else {
            guard let (kind, names) = try Kind.targets(arguments) else {
                throw CapctlError.usage("say what to delete: KIND NAME…, KIND/NAME…, KIND -l SELECTOR, or -f FILE")
            }
            if let selector {
                guard names.isEmpty else { throw CapctlError.usage("NAMEs and -l cannot be used together") }
                // An empty selector matches everything: never what a typo or an unset variable meant.
                guard !selector.allSatisfy(\.isWhitespace) else {
                    throw CapctlError.usage("-l needs a label selector (an empty one would match every \(kind.singular))")
                }
                let found = try await matching(kind.resource, selector: selector)
                if found.isEmpty { console.error("no \(kind.plural) match \"\(selector)\"") }
                targets = found.map { (kind, $0.namespace, $0.name, nil) }
            } else {
                guard !names.isEmpty else { throw CapctlError.usage("delete \(kind.plural): give NAMEs, -l SELECTOR or -f FILE") }
                targets = names.map { (kind, nil, $0, nil) }
            }
        }
        try await global.withConnection { connection, settings in
            var failures = 0
            for (index, target) in targets.enumerated() {
                do {
                    try await delete(
                        target.kind.resource, connection: connection,
                        namespace: target.kind.isNamespaced ? (target.namespace ?? settings.namespace) : "", name: target.name)
                    console.line("\(target.kind.singular)/\(target.name) deleted")
                } catch let error as RPCError {
                    let what = target.origin.map { "\($0): " } ?? "\(target.kind.singular)/\(target.name): "
                    console.error(console.colored("error: ", .red) + what + BatchWrite.describe(error))
                    failures += 1
                    if BatchWrite.stops(at: error, remaining: targets.count - index - 1, console: console) { break }
                }
            }
            if failures > 0 { throw CapctlError.failed(count: failures) }
        }
    }

    private func delete<R: CLIResource>(_ type: R.Type, connection: APIConnection, namespace: String, name: String) async throws {
        _ = try await connection.delete(R.self, namespace: namespace, name: name)
    }

    private func matching<R: CLIResource>(_ type: R.Type, selector: String) async throws -> [(namespace: String, name: String)] {
        try await global.withConnection { connection, settings in
            var request = ListRequest()
            request.namespace = R.kind.isNamespaced ? settings.namespace : ""
            request.labelSelector = selector
            do {
                return try await connection.list(R.self, request).items.map { ($0.metadata.namespace, $0.metadata.name) }
            } catch let error as RPCError {
                throw CapctlError.server(error, context: "")
            }
        }
    }
}
