import Foundation

/// A file mode test could not read.
public struct FileModeUnreadable: Error, CustomStringConvertible {
    public let description: String
}

/// The permission bits (`0o777`) of `path`.
public func permissionBits(of path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    guard let mode = attributes[.posixPermissions] as? Int else { throw FileModeUnreadable(description: "\(path): no permissions") }
    return mode & 0o777
}

/// This process's umask, from /proc (setting it to read it would race other tests' files).
public func currentUmask() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Umask:") }),
        let mask = Int(line.dropFirst("Umask:".count).trimmingCharacters(in: .whitespaces), radix: 8)
    else { throw FileModeUnreadable(description: "no Umask in /proc/self/status") }
    return mask
}
