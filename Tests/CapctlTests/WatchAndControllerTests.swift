import CapctlKit
import CapstanAPI
import CapstanAPIServer
import CapstanRPC
import Foundation
import CapstanTestSupport
import Testing

/// `get -w`, `run`, `resize` and `stop`.
@Suite struct CapctlWatchAndControllerTests {
    /// Waits (bounded) until `condition` holds for the captured output.
    static func waitFor(_ what: String, _ condition: @escaping @Sendable () -> Bool) async throws {
        try await bounded(what, seconds: 60) {
            while !condition() { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func watchStreamsRowsAsChangesArrive() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: first}\nspec: {containers: [{name: c, image: one}]}\n")
            let console = CapturedConsole(environment: cluster.environment)
            let watch = Task {
                await Capctl.run(
                    arguments: ["get", "pods", "-w", "-o", "wide", "--max-events", "3", "--watch-seconds", "60", "--server", cluster.address],
                    console: console.console)
            }
            // The current objects first; the watch resumes from the list's revision, so nothing
            // written after the list is missed.
            try await Self.waitFor("the initial rows") { console.out.contains("first") }
            try await cluster.ok(["create", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: second}\nspec: {containers: [{name: c, image: two}]}\n")
            try await cluster.ok(["update", "-f", "-"], stdin: "kind: Pod\nmetadata: {name: second}\nspec: {containers: [{name: c, image: three}]}\n")
            try await cluster.ok(["delete", "pod", "second"])
            let code = try await bounded("the watch to end after 3 events") { await watch.value }
            #expect(code == 0, "\(console.err)")
            try expectGolden("get-watch-wide.txt", console.out)

            // Table format without wide has no EVENT column; -o name prints names.
            let names = try await cluster.capctl(["get", "pods", "-w", "-o", "name", "--watch-seconds", "1"])
            #expect(names.code == 0)
            #expect(names.out == "pod/first\n")
            // JSON is a stream of objects, the current ones too (not a List before them).
            let json = try await cluster.capctl(["get", "pods", "-w", "-o", "json", "--watch-seconds", "1"])
            #expect(json.code == 0)
            #expect(json.out.hasPrefix("{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\""), "\(json.out.prefix(200))")
            #expect(!json.out.contains("\"List\""))
        }
    }

    /// `get KIND NAME -w` on an object older than the history the server keeps: the watch starts
    /// from the store's current revision, not the object's own (which the server refuses as OUT_OF_RANGE).
    @Test(.timeLimit(.minutes(2)))
    func watchOfOneOldObjectStartsFromNow() async throws {
        var options = APIServerOptions()
        options.historyRevisions = 0
        options.eventRingCapacity = 8
        try await TestCluster.with(options: options) { (cluster: TestCluster) async throws in
            let pod = { (name: String, image: String) in
                "kind: Pod\nmetadata: {name: \(name)}\nspec: {containers: [{name: c, image: \(image)}]}\n"
            }
            try await cluster.ok(["create", "-f", "-"], stdin: pod("web", "one"))
            // Twenty newer pod events push web's own revision out of the cache's ring of 8.
            try await cluster.ok(["create", "-f", "-"], stdin: (0..<20).map { pod("filler-\($0)", "x") }.joined(separator: "---\n"))
            let console = CapturedConsole(environment: cluster.environment)
            let watch = Task {
                await Capctl.run(
                    arguments: ["get", "pod", "web", "-w", "-o", "name", "--max-events", "1", "--watch-seconds", "60", "--server", cluster.address],
                    console: console.console)
            }
            try await Self.waitFor("the object") { console.out.contains("pod/web") }
            try await cluster.ok(["update", "-f", "-"], stdin: pod("web", "two"))
            let code = try await bounded("the watch to see the update") { await watch.value }
            #expect(code == 0, "\(console.err)")
            #expect(console.out == "pod/web\npod/web\n")
        }
    }

    /// A watch of one object stays in its namespace: a same-named object elsewhere is not
    /// printed. (A NAME with -A is refused: `getByNameInEveryNamespaceIsRefused`.)
    @Test(.timeLimit(.minutes(2)))
    func watchOfOneObjectStaysInItsNamespace() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let pod = { (image: String) in "kind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: \(image)}]}\n" }
            try await cluster.ok(["create", "-f", "-"], stdin: pod("one"))
            try await cluster.ok(["create", "-n", "other", "-f", "-"], stdin: pod("one"))
            let console = CapturedConsole(environment: cluster.environment)
            let watch = Task {
                await Capctl.run(
                    arguments: ["get", "pod", "web", "-w", "-o", "wide", "--max-events", "1", "--watch-seconds", "60", "--server", cluster.address],
                    console: console.console)
            }
            try await Self.waitFor("the object") { console.out.contains("web") }
            try await cluster.ok(["update", "-n", "other", "-f", "-"], stdin: pod("elsewhere"))
            try await cluster.ok(["update", "-f", "-"], stdin: pod("here"))
            let code = try await bounded("the watch to see the update") { await watch.value }
            #expect(code == 0, "\(console.err)")
            #expect(console.out.contains("here"), "\(console.out)")
            #expect(!console.out.contains("elsewhere"), "\(console.out)")
        }
    }

    /// `capstan up` on `directory`'s store, listening on `listen` (a port a restart can count on
    /// getting back: see `restartablePort`), logging to `up-RUN.log`. No metrics endpoint: its
    /// default port is fixed, and other tests run `capstan up` too.
    static func startUp(_ directory: String, listen: String, run: Int) async throws -> CapstanProcess {
        try await CapstanProcess.start(
            ["up", "--data-dir", directory + "/data", "--listen", listen, "--metrics-listen", "off"],
            logPath: directory + "/up-\(run).log")
    }

    /// A watch whose server dies resumes from the last revision it saw once a server answers
    /// again (here: `capstan up` killed with SIGKILL and started again on the same port and data
    /// directory), missing nothing and repeating nothing.
    @Test(.timeLimit(.minutes(4)))
    func watchResumesAcrossAServerCrash() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capctl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Self.startUp(directory, listen: "127.0.0.1:\(try restartablePort())", run: 1)
        let address = first.address
        let environment = ["CAPSTAN_CONFIG": directory + "/none"]
        func create(_ name: String) async throws {
            let run = CapturedConsole(
                environment: environment, stdin: "kind: Pod\nmetadata: {name: \(name)}\nspec: {containers: [{name: c, image: i}]}\n")
            let code = await Capctl.run(arguments: ["create", "-f", "-", "--server", address], console: run.console)
            #expect(code == 0, "\(run.err)")
        }
        // "before" comes with the list; the one event the watch waits for is "after", created once
        // a new server runs: the watch must resume from the list's revision, not repeat "before".
        try await create("before")
        let console = CapturedConsole(environment: environment)
        let watch = Task {
            await Capctl.run(
                arguments: ["get", "pods", "-w", "-o", "name", "--max-events", "1", "--watch-seconds", "150", "--server", address],
                console: console.console)
        }
        var second: CapstanProcess?
        do {
            try await Self.waitFor("the list") { console.out.contains("pod/before") }
            try await first.kill()
            try await Self.waitFor("the watch to notice") { console.err.contains("watch interrupted") }
            // While no server answers, the watch says every 15 s that it still tries.
            try await Self.waitFor("the watch to say it still tries") { console.err.contains("watch: still trying to resume (") }
            second = try await Self.startUp(directory, listen: address, run: 2)
            try await create("after")
            let code = try await bounded("the watch to see the second pod", seconds: 120) { await watch.value }
            #expect(code == 0, "\(console.err)")
            #expect(console.out == "pod/before\npod/after\n")
            #expect(console.err.contains("resuming from revision"))
        } catch {
            Issue.record("the watch printed:\n\(console.out)--- stderr\n\(console.err)")
            watch.cancel()
            _ = try? await first.kill()
            _ = try? await second?.kill()
            throw error
        }
        _ = try await second?.kill()
    }

    /// `resize`'s wait failed at once when its server stopped ("watch: UNAVAILABLE: the API
    /// server is shutting down"); it resumes as `get -w` does, and ends when the count is observed.
    @Test(.timeLimit(.minutes(4)))
    func resizeWaitResumesAcrossAServerCrash() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("capctl-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Self.startUp(directory, listen: "127.0.0.1:\(try restartablePort())", run: 1)
        let address = first.address
        let environment = ["CAPSTAN_CONFIG": directory + "/none"]
        let run = CapturedConsole(environment: environment)
        #expect(await Capctl.run(arguments: ["run", "web", "--image", "i", "--replicas", "0", "--server", address], console: run.console) == 0)
        let console = CapturedConsole(environment: environment)
        let resize = Task {
            await Capctl.run(arguments: ["resize", "web", "2", "--wait-timeout", "150", "--server", address], console: console.console)
        }
        var second: CapstanProcess?
        do {
            try await Self.waitFor("the first progress line") { console.out.contains("0/2 replicas") }
            try await first.kill()
            try await Self.waitFor("the wait to notice") { console.err.contains("watch interrupted") }
            second = try await Self.startUp(directory, listen: address, run: 2)
            try await Self.setObserved(2, rc: "web", address: address)
            let code = try await bounded("the resize to see the count", seconds: 120) { await resize.value }
            #expect(code == 0, "\(console.err)")
            #expect(console.out == "replicationcontroller/web: 0/2 replicas\nreplicationcontroller/web: 2/2 replicas\nreplicationcontroller/web resized to 2\n")
        } catch {
            Issue.record("resize printed:\n\(console.out)--- stderr\n\(console.err)")
            resize.cancel()
            _ = try? await first.kill()
            _ = try? await second?.kill()
            throw error
        }
        _ = try await second?.kill()
    }

    @Test(.timeLimit(.minutes(2)))
    func runCreatesAController() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            let out = try await cluster.ok(["run", "web", "--image", "nginx:1.25", "--replicas", "3", "--port", "80", "--", "nginx", "-g", "daemon off;"])
            #expect(out == "replicationcontroller/web created\n")
            let yaml = masked(try await cluster.ok(["get", "rc", "web", "-o", "yaml"]))
            try expectGolden("run-rc.yaml", yaml)
            let table = try await cluster.ok(["run", "db", "--image", "postgres:16", "-o", "wide"])
            #expect(table == """
                NAME   IMAGE(S)      SELECTOR   REPLICAS   CURRENT   LABELS
                db     postgres:16   run=db     1          0         run=db

                """)
            let duplicate = try await cluster.capctl(["run", "web", "--image", "nginx"])
            #expect(duplicate.code == 1)
            #expect(duplicate.err.contains("ALREADY_EXISTS"))
            let bad = try await cluster.capctl(["run", "Web_1", "--image", "nginx"])
            #expect(bad.code != 0)
            #expect(bad.err.contains("metadata.name"))
        }
    }

    /// Writes `status.replicas` of an rc as the replication manager will (Update changes status
    /// for controllers: API server's ReplicationControllerStrategy).
    static func setObserved(_ count: Int32, rc name: String, cluster: TestCluster) async throws {
        try await setObserved(count, rc: name, address: cluster.address)
    }

    /// The same, on the server at `address`.
    static func setObserved(_ count: Int32, rc name: String, address: String) async throws {
        try await TestCluster.withClient(address: address) { rpc in
            let client = ReplicationControllers.Client(rpc)
            for _ in 0..<20 {
                var request = GetRequest()
                request.namespace = "default"
                request.name = name
                var rc = try await client.get(request)
                rc.status.replicas = count
                do {
                    _ = try await client.update(rc)
                    return
                } catch let error as RPCError where error.code == .aborted {
                    continue
                }
            }
            Issue.record("could not write status.replicas")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func resizeWaitsForTheObservedCount() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["run", "web", "--image", "nginx", "--replicas", "1"])
            #expect(try await cluster.ok(["resize", "web", "2", "--no-wait"]) == "replicationcontroller/web resized to 2\n")
            #expect(try await cluster.ok(["get", "rc", "web"]).contains("   2\n"))

            // The wait: progress lines as the observed count moves, done when it matches.
            let console = CapturedConsole(environment: cluster.environment)
            let resize = Task {
                await Capctl.run(
                    arguments: ["resize", "web", "3", "--wait-timeout", "60", "--server", cluster.address],
                    console: console.console)
            }
            try await Self.waitFor("the first progress line") { console.out.contains("0/3 replicas") }
            try await Self.setObserved(2, rc: "web", cluster: cluster)
            try await Self.waitFor("the second progress line") { console.out.contains("2/3 replicas") }
            try await Self.setObserved(3, rc: "web", cluster: cluster)
            let code = try await bounded("resize to finish") { await resize.value }
            #expect(code == 0, "\(console.err)")
            #expect(console.out == """
                replicationcontroller/web: 0/3 replicas
                replicationcontroller/web: 2/3 replicas
                replicationcontroller/web: 3/3 replicas
                replicationcontroller/web resized to 3

                """)

            // On a terminal the progress line is rewritten in place.
            let tty = CapturedConsole(environment: cluster.environment.merging(["NO_COLOR": "1"]) { $1 }, isTerminal: true)
            let ttyResize = Task {
                await Capctl.run(arguments: ["resize", "web", "4", "--server", cluster.address], console: tty.console)
            }
            try await Self.waitFor("the terminal progress line") { tty.out.contains("3/4 replicas") }
            try await Self.setObserved(4, rc: "web", cluster: cluster)
            #expect(try await bounded("resize to finish") { await ttyResize.value } == 0)
            #expect(tty.out.hasPrefix("\r\u{1B}[Kreplicationcontroller/web: 3/4 replicas\r\u{1B}[Kreplicationcontroller/web: 4/4 replicas\n"))

            // Nothing observes the count: the wait ends with an error at its timeout.
            let timeout = try await cluster.capctl(["resize", "web", "5", "--wait-timeout", "1"])
            #expect(timeout.code == 1)
            #expect(timeout.err.contains(
                "replicationcontroller/web is set to 5 replicas, but timed out after 1.0s waiting for them: 4 of 5 replicas observed"),
                "\(timeout)")
            #expect(try await cluster.ok(["get", "rc", "web"]).contains("   5\n"), "the desired count is stored all the same")

            let missing = try await cluster.capctl(["resize", "nope", "1"])
            #expect(missing.code == 1)
            #expect(missing.err.contains("NOT_FOUND"))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func stopResizesToZeroWaitsForThePodsThenDeletes() async throws {
        try await TestCluster.with { (cluster: TestCluster) async throws in
            try await cluster.ok(["run", "web", "--image", "nginx", "--replicas", "2"])
            try await Self.setObserved(2, rc: "web", cluster: cluster)
            let pod = "kind: Pod\nmetadata: {name: web-1, labels: {run: web}}\nspec: {containers: [{name: c, image: i}]}\n"
            try await cluster.ok(["create", "-f", "-"], stdin: pod)
            let console = CapturedConsole(environment: cluster.environment)
            let stop = Task {
                await Capctl.run(arguments: ["stop", "web", "--server", cluster.address], console: console.console)
            }
            try await Self.waitFor("the progress line") { console.out.contains("2/0 replicas") }
            #expect(try await cluster.ok(["get", "rc", "web"]).contains("   0\n"), "desired is 0 while pods go")
            try await Self.setObserved(0, rc: "web", cluster: cluster)
            // The observed count is 0, but a pod of the controller is left: stop waits for it.
            try await Self.waitFor("the wait for the pods") { console.out.contains("waiting for its pods") }
            #expect(try await cluster.ok(["get", "rc", "-o", "name"]) == "replicationcontroller/web\n")
            try await cluster.ok(["delete", "pod", "web-1"])
            #expect(try await bounded("stop to finish") { await stop.value } == 0)
            #expect(console.out.hasSuffix("""
                replicationcontroller/web: 0/0 replicas
                replicationcontroller/web resized to 0
                replicationcontroller/web: waiting for its pods (run=web) to go
                replicationcontroller/web deleted

                """), "\(console.out)")
            #expect(try await cluster.ok(["get", "rc", "-o", "name"]) == "")

            // A pod that stays: stop fails at its timeout and keeps the controller.
            try await cluster.ok(["run", "db", "--image", "postgres"])
            try await cluster.ok(["create", "-f", "-"], stdin: pod.replacingOccurrences(of: "web", with: "db"))
            let kept = try await cluster.capctl(["stop", "db", "--wait-timeout", "1"])
            #expect(kept.code == 1)
            #expect(kept.err.contains(
                "timed out after 1.0s waiting for the pods of replicationcontroller/db (run=db) to go: 1 left (pod/db-1); "
                    + "the controller is kept, at 0 replicas"), "\(kept)")
            #expect(try await cluster.ok(["get", "rc", "db", "-o", "name"]) == "replicationcontroller/db\n")
            // No --no-wait: deleting the controller first would leave its pods with nothing to stop them.
            let noWait = try await cluster.capctl(["stop", "db", "--no-wait"])
            #expect(noWait.code == 64 && noWait.err.contains("--no-wait"), "\(noWait)")
        }
    }
}
