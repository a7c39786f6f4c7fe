import Foundation
import Yams

/// `~/.capstan/config` (or `$CAPSTAN_CONFIG`, or `--config`): the servers, namespace and token
/// capctl uses when the command line does not say. A small YAML file:
///
///     servers:
///     - 127.0.0.1:7443
///     namespace: default
///     token: …
struct ConfigFile: Codable, Sendable, Equatable {
    var servers: [String]?
    var namespace: String?
    var token: String?

    init(servers: [String]? = nil, namespace: String? = nil, token: String? = nil) {
        self.servers = servers
        self.namespace = namespace
        self.token = token
    }

    /// `servers` is a list, or one string of comma-separated addresses (as `config view` shows it).
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        namespace = try container.decodeIfPresent(String.self, forKey: .namespace)
        token = try container.decodeIfPresent(String.self, forKey: .token)
        if !container.contains(.servers) || (try? container.decodeNil(forKey: .servers)) == true {
            servers = nil
        } else if let list = try? container.decode([String].self, forKey: .servers) {
            servers = list
        } else if let text = try? container.decode(String.self, forKey: .servers) {
            servers = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        } else {
            throw CapctlError.config("servers: expected HOST:PORT, HOST:PORT,HOST:PORT or a list of them")
        }
    }

    /// Where the file is: `explicit`, else `$CAPSTAN_CONFIG`, else `$HOME/.capstan/config`.
    static func path(explicit: String?, environment: [String: String]) -> String {
        if let explicit { return explicit }
        if let path = environment["CAPSTAN_CONFIG"], !path.isEmpty { return path }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return home + "/.capstan/config"
    }

    /// The file's settings; none when it does not exist, unless `mustExist` (a file named by
    /// `--config`: a typo in its path would otherwise go unnoticed, the defaults used instead; as
    /// kubectl's `--kubeconfig`, while a missing `$CAPSTAN_CONFIG`, like `$KUBECONFIG`, is none).
    static func load(from path: String, mustExist: Bool = false) throws(CapctlError) -> ConfigFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            if mustExist {
                throw .config("\(path): no such config file (named by --config; capctl config set creates it)")
            }
            return ConfigFile()
        }
        if isDirectory.boolValue { throw .config("\(path): is a directory, not a config file") }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw .config("\(path): cannot read the file")
        }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return ConfigFile() }
        do {
            try checkKeys(text, path: path)
            return try YAMLDecoder().decode(ConfigFile.self, from: text)
        } catch DecodingError.dataCorrupted(let context) where context.underlyingError is CapctlError {
            // Our own check in `init(from:)`, which the YAML decoder wraps.
            throw .config("\(path): \((context.underlyingError as? CapctlError)?.description ?? "")")
        } catch let error as CapctlError {
            throw error
        } catch {
            throw .config("\(path): not a capctl config (servers, namespace, token): \(error)")
        }
    }

    /// The keys the file may hold.
    static let keys = ["servers", "namespace", "token"]

    /// Refuses keys the file may not hold (a hand-written `server:` would otherwise be ignored).
    private static func checkKeys(_ text: String, path: String) throws {
        guard case .mapping(let mapping)? = try Yams.compose(yaml: text) else { return }
        let unknown = mapping.keys.map { $0.string ?? "\($0)" }.filter { !keys.contains($0) }
        guard unknown.isEmpty else {
            let names = unknown.map { "\"\($0)\"" }.joined(separator: ", ")
            throw CapctlError.config(
                "\(path): unknown key\(unknown.count == 1 ? "" : "s") \(names) (the keys are \(keys.joined(separator: ", ")))")
        }
    }

    /// Writes the file (readable by its owner only: it may hold a token), creating its directory.
    func save(to path: String) throws(CapctlError) {
        var members: [(key: String, value: JSONValue)] = []
        if let servers { members.append(("servers", .array(servers.map { .string($0) }))) }
        if let namespace { members.append(("namespace", .string(namespace))) }
        if let token { members.append(("token", .string(token))) }
        let text = members.isEmpty ? "" : YAMLWriter.document(.object(members))
        let directory = (path as NSString).deletingLastPathComponent
        do {
            if !directory.isEmpty {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            guard FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            else { throw CapctlError.config("\(path): cannot write the file") }
        } catch let error as CapctlError {
            throw error
        } catch {
            throw .config("\(path): cannot write the file: \(error)")
        }
    }
}

/// The port `capstan up` and `capstan apiserver` listen on by default.
public let defaultAPIPort = 7443
