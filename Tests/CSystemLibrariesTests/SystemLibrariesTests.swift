internal import CNghttp2
internal import CProtobufC
internal import CSQLite
import Testing

/// The system library targets resolve through pkg-config, link, and are the versions we build on.
@Suite struct SystemLibrariesTests {
    @Test func nghttp2() throws {
        let info = try #require(nghttp2_version(0))
        let version = String(cString: info.pointee.version_str)
        #expect(version.hasPrefix("1."), "nghttp2 \(version)")
        #expect(info.pointee.version_num >= 0x01_34_00, "nghttp2 \(version) is older than 1.52")
    }

    @Test func sqlite() {
        #expect(sqlite3_libversion_number() >= 3_040_000, "SQLite \(String(cString: sqlite3_libversion()))")
        #expect(sqlite3_threadsafe() != 0)
    }

    @Test func protobufC() {
        #expect(protobuf_c_version_number() >= 1_004_000, "protobuf-c \(String(cString: protobuf_c_version()))")
    }
}
