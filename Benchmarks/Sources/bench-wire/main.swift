// bench-wire: encode/decode throughput of a typical Pod, CapstanWire (protobuf-c) against
// swift-protobuf. Wiring only; see PodFixtures.swift (what is compared) and Harness.swift (how).
import Foundation

let options: Options
do {
    options = try Options(Array(CommandLine.arguments.dropFirst()))
} catch {
    if let message = error.message {
        FileHandle.standardError.write(Data("bench-wire: \(message)\n\(Options.usage)\n".utf8))
        exit(2)
    }
    print(Options.usage)
    exit(0)
}

do {
    let fixtures = try PodFixtures(TypicalPod())
    print("round trip Capstan -> swift-protobuf -> Capstan: ok")
    let schedule = options.schedule
    let results = try measure(fixtures.cases, schedule)
    print(report(results, podSize: fixtures.capstanBytes.count, schedule: schedule))
} catch {
    FileHandle.standardError.write(Data("bench-wire: \(error)\n".utf8))
    exit(1)
}
