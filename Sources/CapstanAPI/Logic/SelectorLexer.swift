/// One token of a selector, with its 0-based character offset.
struct SelectorToken: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        /// A key, value or keyword (`in`, `notin`): a run of characters that are not spaces (see
        /// `SelectorLexer.isSpace`), `,`, `(`, `)`, `=` or `!`.
        case word
        case equals // =
        case doubleEquals // ==
        case notEquals // !=
        case bang // !
        case openParen // (
        case closeParen // )
        case comma // ,
        case end
    }

    var kind: Kind
    var text: String
    var position: Int
}

/// Splits selector text into tokens; shared by label and field selectors.
enum SelectorLexer {
    /// Most bytes a selector may have.
    static let maxLength = 64 * 1024
    /// Most requirements a selector may have (each is checked against every object listed).
    static let maxRequirements = 100

    /// Refuses what cannot be a selector before it is lexed: text over `maxLength` bytes, and
    /// text that is not ASCII. Every key, value and operator of either kind is ASCII (label keys
    /// and values, field names, names, hosts, phases), and comparing other text character by
    /// character costs time quadratic in its length for some inputs (runs of combining marks).
    static func precheck(_ text: String, kind: SelectorError.Kind) throws(SelectorError) {
        let utf8 = text.utf8
        if utf8.count > maxLength {
            let shown = String(decoding: utf8.prefix(64), as: UTF8.self) + "…"
            throw SelectorError(
                kind: kind, selector: shown, position: 0, token: "",
                reason: "the selector is \(utf8.count) bytes, over the limit of \(maxLength)")
        }
        guard let index = utf8.firstIndex(where: { $0 >= 0x80 }) else { return }
        // Everything before it is ASCII: its byte offset is its character offset.
        throw SelectorError(
            kind: kind, selector: text, position: utf8.distance(from: utf8.startIndex, to: index),
            token: String(text.unicodeScalars[index]),
            reason: "selectors are ASCII (label keys and values, field names and their values have no other characters)")
    }

    /// Every token of `text`, ending with an `.end` token positioned after the last character.
    static func tokenize(_ text: String) -> [SelectorToken] {
        let characters = Array(text)
        var tokens: [SelectorToken] = []
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if isSpace(character) {
                index += 1
                continue
            }
            let next: Character? = index + 1 < characters.count ? characters[index + 1] : nil
            switch character {
            case "(":
                tokens.append(SelectorToken(kind: .openParen, text: "(", position: index))
                index += 1
            case ")":
                tokens.append(SelectorToken(kind: .closeParen, text: ")", position: index))
                index += 1
            case ",":
                tokens.append(SelectorToken(kind: .comma, text: ",", position: index))
                index += 1
            case "=" where next == "=":
                tokens.append(SelectorToken(kind: .doubleEquals, text: "==", position: index))
                index += 2
            case "=":
                tokens.append(SelectorToken(kind: .equals, text: "=", position: index))
                index += 1
            case "!" where next == "=":
                tokens.append(SelectorToken(kind: .notEquals, text: "!=", position: index))
                index += 2
            case "!":
                tokens.append(SelectorToken(kind: .bang, text: "!", position: index))
                index += 1
            default:
                let start = index
                while index < characters.count, !isDelimiter(characters[index]) { index += 1 }
                tokens.append(SelectorToken(kind: .word, text: String(characters[start..<index]), position: start))
            }
        }
        tokens.append(SelectorToken(kind: .end, text: "", position: characters.count))
        return tokens
    }

    private static func isDelimiter(_ character: Character) -> Bool {
        isSpace(character) || "(),=!".contains(character)
    }

    /// The spaces between tokens, as Kubernetes' selector lexer has them: space, tab, CR and LF
    /// (and CR LF, one `Character` in Swift). Other whitespace (a no-break space, say) is part of
    /// a word, where key and value validation rejects it.
    private static func isSpace(_ character: Character) -> Bool {
        character == " " || character == "\t" || character == "\n" || character == "\r" || character == "\r\n"
    }
}

/// A cursor over tokens for the recursive-descent parsers.
struct SelectorTokenCursor {
    private let tokens: [SelectorToken]
    private var index = 0

    init(_ tokens: [SelectorToken]) {
        self.tokens = tokens
    }

    var current: SelectorToken { tokens[index] }

    /// The token after the current one (the `.end` token at the end).
    var lookahead: SelectorToken { tokens[min(index + 1, tokens.count - 1)] }

    mutating func advance() {
        if index < tokens.count - 1 { index += 1 }
    }
}
