import ArgumentParser
import CapstanAPI
import CapstanRPC

/// `capctl bind POD MINION`: places an unscheduled pod on a minion with `Bindings/Create`, the call
/// the scheduler makes. Until a scheduler runs, this is how a pod created without `spec.host` gets
/// one; a pod's host cannot be changed by `update` (the server says so and names this call).
struct BindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bind",
        abstract: "Place an unscheduled pod on a minion (what the scheduler does).",
        discussion: "The pod must not be bound yet (FAILED_PRECONDITION otherwise) and the minion must exist.")

    @Argument(help: "The pod to place.")
    var pod: String

    @Argument(help: "The minion to place it on.")
    var minion: String

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let console = Console.current
        try await global.withConnection { connection, settings in
            let bound: Pod
            do {
                bound = try await connection.bind(namespace: settings.namespace, pod: pod, host: minion)
            } catch let error as RPCError {
                throw CapctlError.server(error, context: "")
            }
            console.line("pod/\(bound.metadata.name) bound to minion/\(bound.spec.host)")
        }
    }
}
