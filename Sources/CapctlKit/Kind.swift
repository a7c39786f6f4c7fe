import ArgumentParser
import CapstanAPI

/// The API kinds capctl knows, by every spelling a user may type.
public enum Kind: String, CaseIterable, Sendable {
    case pod, replicationController, service, endpoints, minion

    /// `Pod`, `ReplicationController`, …: the `kind:` of a manifest and of yaml/json output.
    public var name: String {
        switch self {
        case .pod: "Pod"
        case .replicationController: "ReplicationController"
        case .service: "Service"
        case .endpoints: "Endpoints"
        case .minion: "Minion"
        }
    }

    /// The lower-case plural, as in `pods`; also the word before the slash of `-o name`.
    public var plural: String {
        switch self {
        case .pod: "pods"
        case .replicationController: "replicationcontrollers"
        case .service: "services"
        case .endpoints: "endpoints"
        case .minion: "minions"
        }
    }

    /// The lower-case singular, as in `pod`; used in `-o name` output (`pod/web`).
    public var singular: String {
        switch self {
        case .pod: "pod"
        case .replicationController: "replicationcontroller"
        case .service: "service"
        case .endpoints: "endpoints"
        case .minion: "minion"
        }
    }

    /// The short form, as in `po`.
    public var short: String {
        switch self {
        case .pod: "po"
        case .replicationController: "rc"
        case .service: "svc"
        case .endpoints: "ep"
        case .minion: "mi"
        }
    }

    /// Whether objects of this kind live in a namespace.
    public var isNamespaced: Bool { self != .minion }

    /// Every accepted spelling, lower case.
    var spellings: Set<String> {
        // `endpoint`: the kind's singular and plural are both "endpoints", but people type either.
        Set([singular, plural, short, name.lowercased()] + (self == .endpoints ? ["endpoint"] : []))
    }

    /// Resolves what a user typed (`pod`, `Pods`, `po`, `rc`, `ReplicationController`, …).
    public init(parsing text: String) throws(CapctlError) {
        let wanted = text.lowercased()
        guard let kind = Kind.allCases.first(where: { $0.spellings.contains(wanted) }) else {
            throw CapctlError.usage("unknown kind \"\(text)\"; one of: \(Kind.helpList)")
        }
        self = kind
    }

    /// The objects a command's words name: `KIND NAME…`, or `KIND/NAME…` as `-o name` prints them
    /// (all of one kind); nil for no words. A name may not hold a slash (names cannot).
    static func targets(_ words: [String]) throws(CapctlError) -> (kind: Kind, names: [String])? {
        guard let first = words.first else { return nil }
        guard let slash = first.firstIndex(of: "/") else {
            let kind = try Kind(parsing: first)
            if let slashed = words.dropFirst().first(where: { $0.contains("/") }) {
                throw CapctlError.usage(
                    "\"\(slashed)\": after a KIND give NAMEs alone (or KIND/NAME for each, without the KIND first)")
            }
            return (kind, Array(words.dropFirst()))
        }
        let kind = try Kind(parsing: String(first[..<slash]))
        var names: [String] = []
        for word in words {
            let parts = word.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty, !parts[1].contains("/") else {
                throw CapctlError.usage("\"\(word)\": expected KIND/NAME, as in \(kind.singular)/web")
            }
            let other = try Kind(parsing: String(parts[0]))
            guard other == kind else {
                throw CapctlError.usage("one kind at a time: \(first) and \(word)")
            }
            names.append(String(parts[1]))
        }
        return (kind, names)
    }

    /// What shell completion offers for a KIND argument.
    static var completion: CompletionKind { .list(allCases.map(\.plural) + allCases.map(\.short)) }

    /// `pods (po), replicationcontrollers (rc), …` for help and errors.
    public static var helpList: String {
        allCases.map { "\($0.plural) (\($0.short))" }.joined(separator: ", ")
    }

    /// The Swift type of the kind's objects.
    var resource: any CLIResource.Type {
        switch self {
        case .pod: Pod.self
        case .replicationController: ReplicationController.self
        case .service: Service.self
        case .endpoints: Endpoints.self
        case .minion: Minion.self
        }
    }
}
