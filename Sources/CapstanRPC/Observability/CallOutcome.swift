/// The status a call ends with, as an interceptor sees it once `next` returned or threw: the
/// status it already ended with (its deadline passed) or else the one the runner will send for
/// the outcome (`OK`, or the error converted as `RPCError(converting:)` does).
enum CallOutcome {
    static func status(thrown error: (any Error)?, context: ServerContext) -> RPCStatus {
        if let ended = context.endedStatus { return ended }
        guard let error else { return .ok }
        return RPCError(converting: error).status
    }
}
