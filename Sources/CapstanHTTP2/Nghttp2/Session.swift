internal import CNghttp2
import Glibc

/// One nghttp2 session (server or client side) for one connection.
///
/// Ownership: `init` retains the `Session` (`Unmanaged.passRetained`) and hands that pointer to
/// nghttp2 as `user_data`; every callback takes it back unretained. `close()` deletes the
/// nghttp2 session and releases that retain, and drops the delegate. A session is created, used
/// and closed on its connection's loop thread only; nghttp2 calls back only from inside
/// `receive`, `produceOutput` and the `submit…` calls, on that same thread.
final class Session {
    enum Role { case server, client }

    /// The SETTINGS this side announces.
    struct Settings {
        var maxConcurrentStreams: UInt32?
        var initialWindowSize: UInt32
        /// The connection-level receive window (raised from 65,535 with a WINDOW_UPDATE).
        var connectionWindowSize: Int32
        var maxHeaderListSize: UInt32?
    }

    let role: Role
    private var raw: OpaquePointer?
    /// The connection that owns this session. Not retained (`Unmanaged`, so the many callbacks
    /// per request pay no reference counting): the owner holds the session strongly and nghttp2
    /// calls back only from inside the owner's own calls into the session, so the owner is alive
    /// whenever this is used. Cleared by `close()`.
    private var delegateReference: Unmanaged<SessionDelegate>?
    private var retained: Unmanaged<Session>?
    /// Where nghttp2 allocates (the loop's pool), retained until the nghttp2 session is deleted.
    private var memory: Unmanaged<Nghttp2Memory>?

    /// Calls `body` with the delegate, if the session is open, without retaining it.
    @inline(__always)
    private func withDelegate<Result>(_ body: (SessionDelegate) -> Result) -> Result? {
        delegateReference?._withUnsafeGuaranteedRef(body)
    }

    /// A session whose nghttp2 allocations come from `memory` (its loop's pool: the session must
    /// be created, used and closed on that loop's thread).
    init(role: Role, settings: Settings, delegate: SessionDelegate, memory: Nghttp2Memory) throws(HTTP2TransportError) {
        self.role = role
        delegateReference = Unmanaged.passUnretained(delegate)

        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw HTTP2TransportError(.protocolError, "nghttp2_session_callbacks_new failed")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        Self.install(callbacks)

        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw HTTP2TransportError(.protocolError, "nghttp2_option_new failed")
        }
        defer { nghttp2_option_del(option) }
        // Inbound flow control is ours: WINDOW_UPDATE only for bytes the reader took.
        nghttp2_option_set_no_auto_window_update(option, 1)
        // Closed streams are not kept for RFC 7540's priority tree (gRPC sends no priorities),
        // so the stream map holds only open streams and a finished stream costs nothing later.
        nghttp2_option_set_no_closed_streams(option, 1)
        if role == .client { nghttp2_option_set_peer_max_concurrent_streams(option, 100) }
        // nghttp2 ends the session when one header block comes in more than this many
        // CONTINUATION frames (default 8, about 144 KiB in 16 KiB frames). A server refuses an
        // over-limit block for its stream alone (`ServerConnection.sessionHeader`); this lets
        // blocks up to about 1 MiB reach that check. Larger ones still end the connection, as
        // does a single field past the HPACK inflater's fixed 64 KiB (COMPRESSION_ERROR).
        nghttp2_option_set_max_continuations(option, 64)

        let retained = Unmanaged.passRetained(self)
        let pool = Unmanaged.passRetained(memory)
        // nghttp2 copies the struct.
        var mem = Nghttp2Memory.nghttp2Mem(pool)
        var session: OpaquePointer?
        let result = switch role {
        case .server: nghttp2_session_server_new3(&session, callbacks, retained.toOpaque(), option, &mem)
        case .client: nghttp2_session_client_new3(&session, callbacks, retained.toOpaque(), option, &mem)
        }
        guard result == 0, let session else {
            retained.release()
            pool.release()
            throw Self.error("nghttp2_session_new", result)
        }
        raw = session
        self.retained = retained
        self.memory = pool

        var entries: [nghttp2_settings_entry] = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
        ]
        if let maximum = settings.maxConcurrentStreams {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: maximum))
        }
        if let maximum = settings.maxHeaderListSize {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: maximum))
        }
        if role == .client {
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        }
        let submitted = nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), entries, entries.count)
        guard submitted == 0 else {
            close()
            throw Self.error("nghttp2_submit_settings", submitted)
        }
        if settings.connectionWindowSize > 65_535 {
            _ = nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, settings.connectionWindowSize)
        }
    }

    deinit {
        assert(raw == nil, "a Session must be closed before it is released")
    }

    var isClosed: Bool { raw == nil }

    /// Deletes the nghttp2 session and releases the retain taken in `init`. Idempotent.
    func close() {
        guard let session = raw else { return }
        raw = nil
        delegateReference = nil
        nghttp2_session_del(session)
        retained?.release()
        retained = nil
        memory?.release()
        memory = nil
    }

    static func error(_ what: String, _ code: Int32) -> HTTP2TransportError {
        let text = nghttp2_strerror(code).map { String(cString: $0) } ?? "error \(code)"
        return HTTP2TransportError(.protocolError, "\(what): \(text)")
    }

    // MARK: Reading and writing

    /// Feeds bytes read from the socket to nghttp2 (which calls the delegate). Throws when the
    /// peer broke the protocol in a way the connection cannot survive.
    func receive(_ buffer: ReadBuffer, count: Int) throws(HTTP2TransportError) {
        guard let session = raw else { return }
        let result = buffer.withBytes(count: count) { bytes in
            nghttp2_session_mem_recv(session, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count)
        }
        if result < 0 { throw Self.error("nghttp2_session_mem_recv", Int32(result)) }
    }

    /// Appends the frames nghttp2 has ready to `buffer` until it holds at least `limit` bytes.
    /// Returns whether nghttp2 may have more.
    func produceOutput(into buffer: WriteBuffer, limit: Int) throws(HTTP2TransportError) -> Bool {
        guard let session = raw else { return false }
        while buffer.count < limit {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            if count < 0 { throw Self.error("nghttp2_session_mem_send", Int32(count)) }
            if count == 0 { return false }
            buffer.append(UnsafeRawBufferPointer(start: data, count: count))
        }
        return true
    }

    /// nghttp2 wants to read or write more (false once GOAWAY was exchanged and streams ended).
    var wantsIO: Bool {
        guard let session = raw else { return false }
        return nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0
    }

    var wantsWrite: Bool {
        guard let session = raw else { return false }
        return nghttp2_session_want_write(session) != 0
    }

    // MARK: Submitting

    /// Submits a response's HEADERS; with `hasBody`, DATA follows from the stream's outbound queue.
    func submitResponse(streamID: Int32, headers: [HeaderField], hasBody: Bool) throws(HTTP2TransportError) {
        guard let session = raw else { throw HTTP2TransportError(.connectionClosed, "the session is closed") }
        let result = Self.withNameValues(headers) { nva, count in
            if hasBody {
                var provider = Self.dataProvider
                return nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        if result != 0 { throw Self.error("nghttp2_submit_response", result) }
    }

    /// Submits a response's HEADERS prepared once (see `PreparedHeaders`).
    func submitResponse(streamID: Int32, prepared: PreparedHeaders, hasBody: Bool) throws(HTTP2TransportError) {
        guard let session = raw else { throw HTTP2TransportError(.connectionClosed, "the session is closed") }
        let result = prepared.withNameValues { nva, count in
            if hasBody {
                var provider = Self.dataProvider
                return nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        if result != 0 { throw Self.error("nghttp2_submit_response", result) }
    }

    /// Submits a request's HEADERS with a data provider; returns the new stream's id.
    func submitRequest(headers: [HeaderField]) throws(HTTP2TransportError) -> Int32 {
        guard let session = raw else { throw HTTP2TransportError(.connectionClosed, "the session is closed") }
        let result = Self.withNameValues(headers) { nva, count in
            var provider = Self.dataProvider
            return nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        if result < 0 { throw Self.error("nghttp2_submit_request", result) }
        return result
    }

    /// Tells nghttp2 that a stream whose provider was deferred has data (or its end) again.
    func resumeData(streamID: Int32) {
        guard let session = raw else { return }
        _ = nghttp2_session_resume_data(session, streamID)
    }

    func submitReset(streamID: Int32, errorCode: UInt32) {
        guard let session = raw else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, errorCode)
    }

    /// Returns `count` bytes of receive window to the peer for the connection.
    func consumeConnection(_ count: Int) {
        guard let session = raw, count > 0 else { return }
        _ = nghttp2_session_consume_connection(session, count)
    }

    /// Returns `count` bytes of receive window to the peer for one stream.
    func consumeStream(_ streamID: Int32, _ count: Int) {
        guard let session = raw, count > 0 else { return }
        _ = nghttp2_session_consume_stream(session, streamID, count)
    }

    func submitPing() {
        guard let session = raw else { return }
        _ = nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil)
    }

    /// The first GOAWAY of a graceful shutdown (last stream id 2^31-1). Server only.
    func submitShutdownNotice() {
        guard let session = raw else { return }
        _ = nghttp2_submit_shutdown_notice(session)
    }

    /// GOAWAY naming the last stream this side will process.
    func submitGoAway(lastStreamID: Int32? = nil, errorCode: UInt32 = 0) {
        guard let session = raw else { return }
        let last = lastStreamID ?? nghttp2_session_get_last_proc_stream_id(session)
        _ = nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), last, errorCode, nil, 0)
    }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it said otherwise).
    var remoteMaxConcurrentStreams: UInt32 {
        guard let session = raw else { return 0 }
        return nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
    }

    /// Whether the peer half-closed `streamID` (sent END_STREAM).
    func isRemoteClosed(streamID: Int32) -> Bool {
        guard let session = raw else { return true }
        return nghttp2_session_get_stream_remote_close(session, streamID) != 0
    }

    // MARK: Headers

    /// Calls `body` with `fields` as an `nghttp2_nv` array (names and values copied into one
    /// temporary block; nghttp2 copies them again when the call returns).
    private static func withNameValues<Result>(
        _ fields: [HeaderField],
        _ body: (UnsafePointer<nghttp2_nv>, Int) -> Result
    ) -> Result {
        var total = 0
        for field in fields { total += field.name.utf8.count + field.value.utf8.count }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(total, 1)) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(fields.count, 1)) { nvs in
                var offset = 0
                for (index, field) in fields.enumerated() {
                    let name = copy(field.name, into: bytes, at: &offset)
                    let value = copy(field.value, into: bytes, at: &offset)
                    nvs.initializeElement(at: index, to: nghttp2_nv(
                        name: name.pointer, value: value.pointer, namelen: name.count, valuelen: value.count,
                        flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
                }
                defer { nvs.baseAddress!.deinitialize(count: fields.count) }
                return body(UnsafePointer(nvs.baseAddress!), fields.count)
            }
        }
    }

    private static func copy(
        _ text: String,
        into bytes: UnsafeMutableBufferPointer<UInt8>,
        at offset: inout Int
    ) -> (pointer: UnsafeMutablePointer<UInt8>, count: Int) {
        let start = bytes.baseAddress! + offset
        var text = text
        let count = text.withUTF8 { utf8 in
            start.update(from: utf8.baseAddress!, count: utf8.count)
            return utf8.count
        }
        offset += count
        return (start, count)
    }

    // MARK: Callbacks

    /// The data provider every stream with a body uses: it reads the stream's `StreamOutbound`.
    private static let dataProvider = nghttp2_data_provider(
        source: nghttp2_data_source(ptr: nil),
        read_callback: { _, streamID, buffer, length, flags, _, userData in
            Session.owner(userData)._withUnsafeGuaranteedRef {
                $0.readData(streamID: streamID, buffer: buffer!, length: length, flags: flags!)
            }
        })

    private func readData(
        streamID: Int32,
        buffer: UnsafeMutablePointer<UInt8>,
        length: Int,
        flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        guard let outbound = withDelegate({ $0.sessionOutbound(streamID: streamID) }) ?? nil, let session = raw else {
            return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
        }
        let written = outbound.fill(UnsafeMutableRawBufferPointer(start: buffer, count: length))
        if outbound.isEmpty, let end = outbound.end {
            flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
            outbound.providerFinished = true
            switch end {
            case .endStream:
                break
            case .trailers(let trailers):
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                let result = Self.withNameValues(trailers) { nva, count in
                    nghttp2_submit_trailer(session, streamID, nva, count)
                }
                if result != 0 { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
            case .preparedTrailers(let trailers):
                flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                let result = trailers.withNameValues { nva, count in
                    nghttp2_submit_trailer(session, streamID, nva, count)
                }
                if result != 0 { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
            }
            return written
        }
        if written == 0 {
            outbound.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return written
    }

    /// The session behind `user_data` (see the ownership note on the type); not retained, since
    /// the retain taken in `init` keeps it alive through every callback.
    @inline(__always)
    private static func owner(_ userData: UnsafeMutableRawPointer?) -> Unmanaged<Session> {
        Unmanaged<Session>.fromOpaque(userData!)
    }

    private static func kind(_ type: UInt8) -> FrameKind {
        switch UInt32(type) {
        case NGHTTP2_DATA.rawValue: .data
        case NGHTTP2_HEADERS.rawValue: .headers
        case NGHTTP2_RST_STREAM.rawValue: .rstStream
        case NGHTTP2_SETTINGS.rawValue: .settings
        case NGHTTP2_PING.rawValue: .ping
        case NGHTTP2_GOAWAY.rawValue: .goaway
        case NGHTTP2_WINDOW_UPDATE.rawValue: .windowUpdate
        default: .other
        }
    }

    private static func install(_ callbacks: OpaquePointer) {
        // A frame nghttp2 gave up on (a header block past its 64 KiB send limit, a stream that
        // closed meanwhile). For HEADERS on a stream that is still open, nothing else would end
        // it: the delegate resets it.
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks) { _, frame, _, userData in
            let frame = frame!.pointee
            let kind = Session.kind(frame.hd.type)
            Session.owner(userData)._withUnsafeGuaranteedRef {
                $0.withDelegate { $0.sessionFrameNotSent(streamID: frame.hd.stream_id, kind: kind) }
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            let frame = frame!.pointee
            guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
            let category = frame.headers.cat.rawValue
            let first = category == NGHTTP2_HCAT_REQUEST.rawValue || category == NGHTTP2_HCAT_RESPONSE.rawValue
            Session.owner(userData)._withUnsafeGuaranteedRef {
                $0.withDelegate { $0.sessionBeginHeaders(streamID: frame.hd.stream_id, first: first) }
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            let streamID = frame!.pointee.hd.stream_id
            let goOn = Session.owner(userData)._withUnsafeGuaranteedRef { session in
                session.withDelegate {
                    $0.sessionHeader(
                        streamID: streamID, name: HeaderBytes(name, count: nameLength), value: HeaderBytes(value, count: valueLength))
                }
            }
            // A failure here makes `nghttp2_session_mem_recv` fail: the connection ends.
            return goOn == false ? NGHTTP2_ERR_CALLBACK_FAILURE.rawValue : 0
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            let frame = frame!.pointee
            let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            let kind = Session.kind(frame.hd.type)
            Session.owner(userData)._withUnsafeGuaranteedRef { session in
                session.withDelegate { delegate in
                    switch kind {
                    case .headers:
                        delegate.sessionHeadersReceived(streamID: frame.hd.stream_id, endStream: endStream)
                    case .data:
                        delegate.sessionDataReceived(streamID: frame.hd.stream_id, endStream: endStream)
                    case .ping:
                        if frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0 { delegate.sessionPingAcknowledged() }
                    case .goaway:
                        delegate.sessionGoAwayReceived(lastStreamID: frame.goaway.last_stream_id, errorCode: frame.goaway.error_code)
                    case .settings:
                        if frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 { delegate.sessionSettingsReceived() }
                    default:
                        break
                    }
                }
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, userData in
            let chunk = DataChunk(UnsafeRawBufferPointer(start: data, count: length))
            Session.owner(userData)._withUnsafeGuaranteedRef { $0.withDelegate { $0.sessionDataChunk(streamID: streamID, chunk: chunk) } }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, userData in
            Session.owner(userData)._withUnsafeGuaranteedRef {
                $0.withDelegate { $0.sessionStreamClosed(streamID: streamID, errorCode: errorCode) }
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            let frame = frame!.pointee
            let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            let kind = Session.kind(frame.hd.type)
            Session.owner(userData)._withUnsafeGuaranteedRef {
                $0.withDelegate { $0.sessionFrameSent(streamID: frame.hd.stream_id, kind: kind, endStream: endStream) }
            }
            return 0
        }
    }
}
