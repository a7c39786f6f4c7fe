/// The status a call ends with, as an interceptor sees it once `next` returned or threw: the
/// status it already ended with (its deadline passed) or else the one the runner will end it
/// with for the outcome (`OK`, `CANCELLED` for a return after the peer cancelled, or the error
/// converted as `RPCError(converting:)` does; see `ServerCall.finish`).
enum CallOutcome {
    static func status(thrown error: (any Error)?, context: ServerContext) -> RPCStatus {
        if let ended = context.endedStatus { return ended }
        guard let error else { return context.isCancelled ? ServerCall.cancelledByPeer.status : .ok }
        return RPCError(converting: error).status
    }
}
