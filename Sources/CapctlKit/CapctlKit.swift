// CapctlKit: everything `capctl` does; the executable only wires it to the process.
//
// Design
// - Commands are swift-argument-parser commands (`Capctl` and its subcommands). They never touch
//   the process's standard streams directly: they write through `Console.current`, a task-local
//   that the executable binds to stdout/stderr/stdin and that tests bind to in-memory buffers, so a
//   test runs `Capctl.run(arguments:console:)` in-process and reads what a user would have seen,
//   together with the exit code.
// - Kinds: `KindName` resolves the singular, plural and short spellings; each API kind conforms
//   to `CLIResource`, which names its methods and how it prints (table columns, describe text).
//   Command code is generic over `CLIResource` and opened from the kind the user typed.
// - Server access goes through `APIConnection` alone (one file): target list, deadline per call,
//   bearer token. A client library with failover and informers can replace its inside later.
// - Manifests: YAML or JSON, one or many documents, are parsed with Yams into nodes that keep
//   their line, converted into a JSON tree and decoded with the generated proto3-JSON `Codable`,
//   so both formats share one set of rules; every document is checked before anything is sent.
// - Output: table/wide (per-kind columns), yaml/json (the proto3 JSON object with `kind` and
//   `apiVersion`, keys sorted so output is stable), name (`pod/foo`). Colour only on a terminal
//   without NO_COLOR.
