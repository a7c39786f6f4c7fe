import CapstanProcessSupport
import Dispatch
import Foundation
import CapstanTestSupport
import Testing

/// The real `capctl` executable as a child process: exit codes and `-f -` from standard input.
@Suite struct CapctlBinaryTests {
    /// `capctl`, built beside this test bundle.
    static var binary: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("capctl").path
    }

    /// Runs capctl with `arguments` and `stdin`; returns (exit code, stdout, stderr).
    static func run(_ arguments: [String], stdin: String = "", environment: [String: String]) async throws -> (Int32, String, String) {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
        let result = try await bounded("capctl \(arguments.joined(separator: " "))", seconds: 60) {
            // Both pipes are drained at once, so a child that fills one cannot block on it.
            async let out = offThePool { output.fileHandleForReading.readDataToEndOfFile() }
            async let err = offThePool { errors.fileHandleForReading.readDataToEndOfFile() }
            let (outData, errData) = try await (out, err)
            try await offThePool { process.waitUntilExit() }
            return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
        }
        return result
    }

    @Test(.timeLimit(.minutes(2)))
    func exitCodesAndStandardInput() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary), "build capctl first (swift build --build-tests builds it)")
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let env = cluster.environment
            let pod = "kind: Pod\nmetadata: {name: from-stdin}\nspec: {containers: [{name: c, image: busybox}]}\n"
            let created = try await Self.run(["create", "-f", "-", "--server", cluster.address], stdin: pod, environment: env)
            #expect(created.0 == 0, "\(created)")
            #expect(created.1 == "pod/from-stdin created\n")
            // A path that is a pipe, not a regular file (`-f /dev/stdin`, `-f <(…)`): read as well.
            let piped = try await Self.run(
                ["create", "-f", "/dev/stdin", "--server", cluster.address],
                stdin: pod.replacingOccurrences(of: "from-stdin", with: "from-dev-stdin"), environment: env)
            #expect(piped.0 == 0 && piped.1 == "pod/from-dev-stdin created\n", "\(piped)")
            let listed = try await Self.run(["get", "po", "--server", cluster.address], environment: env)
            #expect(listed.0 == 0)
            #expect(listed.1.contains("from-stdin"))
            #expect(!listed.1.contains("\u{1B}["), "no colour into a pipe")
            let missing = try await Self.run(["get", "pod", "nope", "--server", cluster.address], environment: env)
            #expect(missing.0 == 1)
            #expect(missing.2.contains("NOT_FOUND"))
            let bad = try await Self.run(["create", "-f", "-", "--server", cluster.address], stdin: "kind: Pod\nspec: 3\n", environment: env)
            #expect(bad.0 == 1)
            #expect(bad.2.contains("<stdin>: document 1 (line 2): spec: expected an object"), "\(bad)")
            let usage = try await Self.run(["frobnicate"], environment: env)
            #expect(usage.0 == 64, "ArgumentParser's usage error code")
            let help = try await Self.run(["--help"], environment: env)
            #expect(help.0 == 0)
            let completion = try await Self.run(["--generate-completion-script", "zsh"], environment: env)
            #expect(completion.0 == 0 && completion.1.contains("_capctl"))
        }
    }

    /// Runs `command` under /bin/sh with standard output and error as given; (exit code, stderr
    /// when it is a pipe).
    static func shell(
        _ command: String, output: any StandardStream, error: any StandardStream
    ) async throws -> Int32 {
        let process = Subprocess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ["CAPSTAN_CONFIG": "/nonexistent/config", "PATH": "/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = error
        try await ProcessSpawner.shared.spawn(process, killedWithParent: true)
        return try await bounded(command, seconds: 60) {
            try await offThePool { process.waitUntilExit() }
            return process.terminationStatus
        }
    }

    /// Output that cannot be written ends capctl with exit code 1 and a line saying why, not a
    /// crash (Foundation's non-throwing write trapped, exit 132); a reader that went away while
    /// SIGPIPE is ignored (`| head` under a shell that ignores it) ends it quietly.
    @Test(.timeLimit(.minutes(1)))
    func unwritableOutput() async throws {
        guard let full = FileHandle(forWritingAtPath: "/dev/full") else { return }
        let errors = Pipe()
        let code = try await Self.shell("exec '\(Self.binary)' completion bash", output: full, error: errors)
        try errors.fileHandleForWriting.close()
        let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(code == 1, "\(said)")
        #expect(said == "error: cannot write to standard output: No space left on device\n")

        // A pipe whose reader is gone, with SIGPIPE ignored (inherited through exec).
        let closed = Pipe()
        try closed.fileHandleForReading.close()
        let quiet = Pipe()
        let piped = try await Self.shell(
            "trap '' PIPE; exec '\(Self.binary)' completion bash", output: closed.fileHandleForWriting, error: quiet)
        try quiet.fileHandleForWriting.close()
        #expect(piped == 1)
        #expect(quiet.fileHandleForReading.readDataToEndOfFile().isEmpty, "a closed pipe is not reported")

        // Errors that cannot be written: the exit code still says the command failed.
        let unknownKind = try await Self.shell("exec '\(Self.binary)' get widgets", output: FileHandle.nullDevice, error: full)
        #expect(unknownKind == 1)
    }
}
