internal import CSQLite

/// A prepared statement, owned by its `Connection` and used on the same thread.
final class Statement {
    private let handle: OpaquePointer
    private unowned let connection: Connection
    private let sql: String

    init(handle: OpaquePointer, connection: Connection, sql: String) {
        self.handle = handle
        self.connection = connection
        self.sql = sql
    }

    /// Set once `finalize()` has run: the handle is gone.
    private var finalized = false

    deinit {
        finalize()
    }

    /// Frees SQLite's statement (its connection finalizes every statement before it closes, even
    /// one still referenced elsewhere); the statement must not be used afterwards.
    func finalize() {
        guard !finalized else { return }
        finalized = true
        sqlite3_finalize(handle)
    }

    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    func bind(_ index: Int32, _ value: Int64) throws(StoreError) {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: String) throws(StoreError) {
        var value = value
        let code = value.withUTF8 { bytes in bindText(index, UnsafeRawBufferPointer(bytes)) }
        try check(code)
    }

    /// Binds raw bytes as TEXT (so that they compare with the `name` column; used for range bounds).
    func bindText(_ index: Int32, bytes: [UInt8]) throws(StoreError) {
        try check(bytes.withUnsafeBytes { raw in bindText(index, raw) })
    }

    func bind(_ index: Int32, _ value: [UInt8]) throws(StoreError) {
        let code = value.withUnsafeBytes { raw in
            // A zero-length blob still binds a (non-NULL) empty blob.
            CSQLite_bind_blob_transient(handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count))
        }
        try check(code)
    }

    private func bindText(_ index: Int32, _ raw: UnsafeRawBufferPointer) -> Int32 {
        guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else {
            return CSQLite_bind_text_transient(handle, index, "", 0)
        }
        return CSQLite_bind_text_transient(handle, index, base, Int32(raw.count))
    }

    /// Advances; true when a row is available.
    func step() throws(StoreError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = connection.error(code, doing: "run \(sql)")
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Steps a statement that returns no rows.
    func run() throws(StoreError) {
        _ = try step()
        reset()
    }

    /// Binds `value` as a blob at `index` without copying it (SQLite reads it only while the
    /// statement runs), runs the statement, which returns no rows, and resets it. Returns the rows it
    /// inserted, updated or deleted.
    @discardableResult
    func run(bindingValue value: [UInt8], at index: Int32) throws(StoreError) -> Int64 {
        let failure: StoreError? = value.withUnsafeBytes { raw in
            // A zero-length blob still binds a (non-NULL) empty blob. SQLITE_STATIC (nil): no copy.
            let bound = sqlite3_bind_blob(
                handle, index, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), nil)
            if bound != SQLITE_OK {
                return connection.error(bound, doing: "bind a parameter of \(sql)")
            }
            let code = sqlite3_step(handle)
            let failure = code == SQLITE_DONE || code == SQLITE_ROW ? nil : connection.error(code, doing: "run \(sql)")
            // Unbinds the bytes before they go out of scope.
            reset()
            return failure
        }
        if let failure { throw failure }
        return sqlite3_changes64(sqlite3_db_handle(handle))
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func text(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let bytes = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    private func check(_ code: Int32) throws(StoreError) {
        if code != SQLITE_OK { throw connection.error(code, doing: "bind a parameter of \(sql)") }
    }
}
