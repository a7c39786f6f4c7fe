// The one file of CapstanProcessSupport that calls C with pointers: posix_spawn(3) with file
// actions and attributes, and waitpid(2).
import Glibc

/// What a child's standard descriptor (0, 1 or 2) is connected to.
enum ChildDescriptor: Sendable, Equatable {
    /// The parent's descriptor of the same number, as it is.
    case inherited
    /// `/dev/null`, opened read-write.
    case null
    /// A duplicate of this descriptor of the parent.
    case duplicate(Int32)
}

/// How a child ended, from its wait status.
enum ChildExit: Sendable, Equatable {
    case exited(Int32)
    case signalled(Int32)
    /// Not ours to wait for any more (waitpid said ECHILD: someone else reaped it).
    case unknown
}

/// Why posix_spawn could not start a child.
struct SpawnFailure: Error {
    let operation: String
    let code: Int32

    var message: String { "\(operation): \(String(cString: strerror(code)))" }
}

enum PosixSpawn {
    /// Starts `path` with `arguments` (argv[0] included) and `environment` ("NAME=value"; nil: this
    /// process's own), its descriptors 0, 1, 2 as `standard` says, every other descriptor closed
    /// before it runs, in a new process group, with no signal blocked and every signal's action
    /// the default. Returns its pid.
    static func spawn(
        path: String, arguments: [String], environment: [String]?, standard: [ChildDescriptor]
    ) throws(SpawnFailure) -> pid_t {
        precondition(standard.count == 3, "descriptors 0, 1 and 2")
        var actions = posix_spawn_file_actions_t()
        try check("posix_spawn_file_actions_init", posix_spawn_file_actions_init(&actions))
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, descriptor) in standard.enumerated() {
            let target = Int32(target)
            switch descriptor {
            case .inherited:
                break
            case .null:
                try check("open /dev/null", posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_RDWR, 0))
            case .duplicate(let source) where source == target:
                break
            case .duplicate(let source):
                // A source among 0...2 could already have been replaced by an earlier action.
                guard source > 2 else { throw SpawnFailure(operation: "redirect \(target) to \(source)", code: EINVAL) }
                try check("dup2 \(source) to \(target)", posix_spawn_file_actions_adddup2(&actions, source, target))
            }
        }
        try closeEverythingElse(&actions)

        var attributes = posix_spawnattr_t()
        try check("posix_spawnattr_init", posix_spawnattr_init(&attributes))
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        try check("posix_spawnattr_setsigmask", posix_spawnattr_setsigmask(&attributes, &none))
        try check("posix_spawnattr_setsigdefault", posix_spawnattr_setsigdefault(&attributes, &all))
        try check("posix_spawnattr_setpgroup", posix_spawnattr_setpgroup(&attributes, 0))
        let flags = Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        try check("posix_spawnattr_setflags", posix_spawnattr_setflags(&attributes, flags))

        let argv = CStrings(arguments)
        defer { argv.free() }
        let envp = environment.map(CStrings.init)
        defer { envp?.free() }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv.pointers, envp?.pointers ?? environ)
        try check("start \(path)", status)
        return pid
    }

    /// Blocks until child `pid` has ended, without reaping it: its pid stays taken (a zombie)
    /// until `reap(_:)`, so a signal sent meanwhile cannot reach another process.
    static func waitUntilEnded(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
            if errno != EINTR { return }
        }
    }

    /// Reaps child `pid`, which has ended (`waitUntilEnded(_:)`), and says how it ended.
    static func reap(_ pid: pid_t) -> ChildExit {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) != pid {
            if errno != EINTR { return .unknown }
        }
        // The wait status layout of Linux: low 7 bits the terminating signal (0: a normal exit),
        // bits 8...15 the exit code.
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    private static func check(_ operation: String, _ result: Int32) throws(SpawnFailure) {
        guard result == 0 else { throw SpawnFailure(operation: operation, code: result) }
    }

    /// Closes every descriptor from 3 up in the child, after the duplications: nothing of ours
    /// (a lock file, a listening socket, the other end of a pipe) outlives the exec, whether or
    /// not it was opened close-on-exec. glibc 2.34+ has an action for that; Swift does not see
    /// its declaration (a GNU extension), so it is looked up by name.
    private static func closeEverythingElse(_ actions: inout posix_spawn_file_actions_t) throws(SpawnFailure) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = closeFrom {
            let function = unsafeBitCast(symbol, to: CloseFrom.self)
            try check("posix_spawn_file_actions_addclosefrom_np", function(&actions, 3))
            return
        }
        // Older glibc: close what is open now (a descriptor opened meanwhile by another thread
        // could slip through unless it is close-on-exec, as everything of ours is).
        for descriptor in openDescriptors() where descriptor > 2 {
            try check("posix_spawn_file_actions_addclose", posix_spawn_file_actions_addclose(&actions, descriptor))
        }
    }

    private nonisolated(unsafe) static let closeFrom: UnsafeMutableRawPointer? = dlsym(
        UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")

    private static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var result: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let descriptor = Int32(name), descriptor != own { result.append(descriptor) }
        }
        return result
    }
}

/// A NULL-terminated array of C strings, allocated until `free()`.
private struct CStrings {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointers = .allocate(capacity: count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointers[index]) }
        pointers.deallocate()
    }
}
