/// Continue tokens' entry for the fuzz target (`Fuzz/`): a token comes from the client.
public enum ContinueTokenFuzzEntry {
    /// Parses `text` as a token continuing a listing of `/registry/pods/default/`. A token that
    /// parses must continue that listing and read back the same from its own encoding; anything
    /// else must be refused with `badContinueToken`. Traps on a broken property.
    public static func check(_ text: String) {
        let prefix = "/registry/pods/default/"
        do {
            let token = try ContinueToken(parsing: text, prefix: prefix)
            precondition(
                token.revision > 0 && token.lastKey.hasPrefix(prefix), "a token was accepted for another listing")
            let again = try? ContinueToken(parsing: token.encoded, prefix: prefix)
            precondition(
                again == token, "token \(text) reads back from \(token.encoded) as \(String(describing: again))")
        } catch {
            guard case .badContinueToken = error else { fatalError("token \(text) failed with \(error)") }
        }
    }
}
