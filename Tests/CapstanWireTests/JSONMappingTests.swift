import CapstanAPI
import Foundation
import Testing

/// proto3 JSON mapping details that manifests and `-o json` rely on.
@Suite struct JSONMappingTests {
    func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    @Test func namesDefaultsAndInt64AsStrings() throws {
        var port = ContainerPort()
        port.containerPort = 8080
        port.protocol = .udp
        #expect(try json(port) == #"{"containerPort":8080,"protocol":"PROTOCOL_UDP"}"#)
        var meta = ObjectMeta()
        meta.resourceVersion = 18_446_744_073_709_551_615
        meta.name = "web"
        #expect(try json(meta) == #"{"name":"web","resourceVersion":"18446744073709551615"}"#)
    }

    @Test func acceptsProtoNamesNumbersAndForgivingEnumNames() throws {
        let port = try decode(ContainerPort.self, #"{"container_port": "80", "hostPort": 8080, "protocol": "udp"}"#)
        #expect(port.containerPort == 80)
        #expect(port.hostPort == 8080)
        #expect(port.protocol == .udp)
        let spec = try decode(PodSpec.self, #"{"restartPolicy": "OnFailure"}"#)
        #expect(spec.restartPolicy == .onFailure)
        let phase = try decode(PodStatus.self, #"{"phase": 2}"#)
        #expect(phase.phase == .running)
        let meta = try decode(ObjectMeta.self, #"{"resourceVersion": 42, "labels": null}"#)
        #expect(meta.resourceVersion == 42)
    }

    @Test func unknownFieldNamesThePath() throws {
        let error = #expect(throws: DecodingError.self) {
            try decode(Pod.self, #"{"spec": {"containers": [{"name": "a", "imagee": "nginx"}]}}"#)
        }
        guard case .dataCorrupted(let context)? = error else {
            Issue.record("expected dataCorrupted, got \(String(describing: error))")
            return
        }
        #expect(context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            == ["spec", "containers", "[0]", "imagee"])
        #expect(context.debugDescription.contains("unknown field \"imagee\" in capstan.v1.Container"))
    }

    @Test func wrongTypesAndBadEnumNamesAreErrors() {
        #expect(throws: DecodingError.self) { try decode(ContainerPort.self, #"{"containerPort": "eighty"}"#) }
        #expect(throws: DecodingError.self) { try decode(ContainerPort.self, #"{"containerPort": 1.5}"#) }
        #expect(throws: DecodingError.self) { try decode(ContainerPort.self, #"{"containerPort": 4294967296}"#) }
        let error = #expect(throws: DecodingError.self) { try decode(ContainerPort.self, #"{"protocol": "SCTP"}"#) }
        #expect(String(describing: error).contains("PROTOCOL_TCP"))
    }

    @Test func oneofsAndBytes() throws {
        var probe = Probe()
        var action = HTTPGetAction()
        action.path = "/healthz"
        action.port = 8080
        probe.handler = .httpGet(action)
        probe.periodSeconds = 10
        #expect(try json(probe) == #"{"httpGet":{"path":"\/healthz","port":8080},"periodSeconds":10}"#)
        #expect(try decode(Probe.self, try json(probe)) == probe)
        var kv = Mvccpb_KeyValue()
        kv.key = Array("/a".utf8)
        kv.value = [0, 255, 1]
        #expect(try json(kv) == #"{"key":"L2E=","value":"AP8B"}"#)
    }

    /// One field under both its names, or two members of one oneof, is refused: the decoder
    /// reads an object's keys in no fixed order, so one of them would silently win.
    @Test func conflictingKeysAreRefused() throws {
        func refusal<T: Decodable>(_ type: T.Type, _ text: String) -> String {
            do {
                _ = try decode(type, text)
                return "decoded"
            } catch DecodingError.dataCorrupted(let context) {
                return context.codingPath.map(\.stringValue).joined(separator: ".") + ": " + context.debugDescription
            } catch {
                return "\(error)"
            }
        }
        #expect(refusal(ContainerPort.self, #"{"containerPort": 80, "container_port": 8080}"#)
            == #"container_port: "containerPort" and "container_port" in one capstan.v1.ContainerPort are one field: give it once"#)
        #expect(refusal(Probe.self, #"{"httpGet": {"port": 80}, "exec": {"command": ["true"]}}"#)
            == #"exec: "httpGet" and "exec" in one capstan.v1.Probe are members of one oneof: give at most one"#)
        #expect(refusal(Probe.self, #"{"tcpSocket": {"port": 80}, "tcp_socket": {"port": 81}}"#).contains("\"tcpSocket\" and \"tcp_socket\""))
        // Nested: the path leads to the object.
        let pod = refusal(Pod.self, #"{"spec": {"containers": [{"name": "a", "workingDir": "/", "working_dir": "/tmp"}]}}"#)
        #expect(pod.hasPrefix("spec.containers.Index 0.working_dir: "), "\(pod)")
        // A null member sets nothing: no conflict.
        var get80 = HTTPGetAction()
        get80.port = 80
        #expect(try decode(Probe.self, #"{"httpGet": {"port": 80}, "exec": null}"#).handler == .httpGet(get80))
        // Either spelling alone, and a map's own keys in both styles, are fine.
        #expect(try decode(ContainerPort.self, #"{"container_port": 80}"#).containerPort == 80)
        let meta = try decode(ObjectMeta.self, #"{"labels": {"appName": "a", "app_name": "b"}}"#)
        #expect(meta.labels == ["appName": "a", "app_name": "b"])
    }

    @Test func timestampsAndDurations() throws {
        var ts = Google_Protobuf_Timestamp()
        ts.seconds = 1_764_168_111
        ts.nanos = 500_000_000
        #expect(try json(ts) == #""2025-11-26T14:41:51.500Z""#)
        #expect(try decode(Google_Protobuf_Timestamp.self, #""2025-11-26T15:41:51.5+01:00""#) == ts)
        ts.nanos = 0
        ts.seconds = 0
        #expect(try json(ts) == #""1970-01-01T00:00:00Z""#)
        var d = Google_Protobuf_Duration()
        d.seconds = -1
        d.nanos = -500_000_000
        #expect(try json(d) == #""-1.500s""#)
        #expect(try decode(Google_Protobuf_Duration.self, #""-1.5s""#) == d)
        #expect(throws: DecodingError.self) { try decode(Google_Protobuf_Timestamp.self, #""2025-02-30T00:00:00Z""#) }
        #expect(throws: DecodingError.self) { try decode(Google_Protobuf_Duration.self, #""5 minutes""#) }
        ts.seconds = Int64.max
        #expect(throws: EncodingError.self) { try json(ts) }
    }
}
