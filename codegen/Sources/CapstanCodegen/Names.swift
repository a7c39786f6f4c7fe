/// How proto names become Swift names, and how protoc-c names its C symbols.
public enum Names {
    /// `container_port` → `containerPort` (protoc's json_name rule).
    public static func lowerCamel(_ name: String) -> String {
        var result = ""
        var upperNext = false
        for ch in name {
            if ch == "_" {
                upperNext = true
            } else if upperNext {
                result += ch.uppercased()
                upperNext = false
            } else {
                result.append(ch)
            }
        }
        return result
    }

    /// `restart_policy` → `RestartPolicy`, `v1` → `V1`.
    public static func upperCamel(_ name: String) -> String {
        let lower = lowerCamel(name)
        guard let first = lower.first else { return lower }
        return first.uppercased() + lower.dropFirst()
    }

    /// An enum case: `RESTART_POLICY_ON_FAILURE` in enum `RestartPolicy` → `onFailure`.
    /// The enum's own upper-snake prefix is dropped when what remains is a valid identifier.
    public static func enumCase(_ valueName: String, enumName: String) -> String {
        let prefix = upperSnake(enumName) + "_"
        var base = valueName
        if base.hasPrefix(prefix), let next = base.dropFirst(prefix.count).first, !next.isNumber {
            base = String(base.dropFirst(prefix.count))
        }
        let words = base.split(separator: "_").map { $0.lowercased() }
        guard let first = words.first else { return "_" }
        var result = first
        for word in words.dropFirst() { result += word.prefix(1).uppercased() + word.dropFirst() }
        if result.first?.isNumber == true { result = "_" + result }
        return result
    }

    /// `RestartPolicy` → `RESTART_POLICY`, `HTTPGetAction` → `HTTPGET_ACTION`.
    public static func upperSnake(_ name: String) -> String {
        protocCLower(name).uppercased()
    }

    /// protoc-c's CamelToLower: `_` before an upper-case letter that follows a non-upper-case one.
    public static func protocCLower(_ name: String) -> String {
        var result = ""
        var wasUpper = true
        for ch in name {
            if ch.isUppercase {
                if !wasUpper { result += "_" }
                result += ch.lowercased()
                wasUpper = true
            } else {
                result.append(ch)
                wasUpper = false
            }
        }
        return result
    }

    /// protoc-c's type name rule for one component: drop `_`, upper-case the letter after it and the first.
    public static func protocCCamel(_ name: String) -> String {
        var result = ""
        var upperNext = true
        for ch in name {
            if ch == "_" {
                upperNext = true
            } else if upperNext {
                result += ch.uppercased()
                upperNext = false
            } else {
                result.append(ch)
            }
        }
        return result
    }

    /// The C struct or enum type protoc-c emits for `package` + nesting path: `Capstan__V1__Probe__Http`.
    public static func cTypeName(package: String, path: [String]) -> String {
        let parts = (package.isEmpty ? [] : package.split(separator: ".").map(String.init)) + path
        return parts.map(protocCCamel).joined(separator: "__")
    }

    /// The lower-case symbol prefix protoc-c uses for functions and descriptors: `capstan__v1__probe__http`.
    public static func cFunctionPrefix(package: String, path: [String]) -> String {
        let parts = (package.isEmpty ? [] : package.split(separator: ".").map(String.init)) + path
        return parts.map(protocCLower).joined(separator: "__")
    }

    /// Escapes a Swift keyword used as an identifier.
    public static func escaped(_ identifier: String) -> String {
        swiftKeywords.contains(identifier) ? "`\(identifier)`" : identifier
    }

    /// Type names that cannot be used as nested type names (they mean something after a dot).
    public static let reservedNestedTypeNames: Set<String> = ["Type", "Protocol", "Self", "self"]

    static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init",
        "inout", "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public",
        "rethrows", "static", "struct", "subscript", "typealias", "var", "break", "case", "catch",
        "continue", "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat",
        "return", "throw", "switch", "where", "while", "Any", "as", "await", "false", "is", "nil", "self",
        "Self", "super", "throws", "true", "try", "_", "some", "any", "consume", "copy", "borrowing",
        "consuming", "package", "Type",
    ]

    /// The member name protoc-c gives a field: lower-cased, and C++ keywords get a trailing `_`.
    public static func cFieldName(_ name: String) -> String {
        let lower = name.lowercased()
        return cKeywords.contains(lower) ? lower + "_" : lower
    }

    /// The words protoc-c renames (measured against protoc-c 1.4.1).
    static let cKeywords: Set<String> = [
        "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch", "char", "class",
        "compl", "const", "const_cast", "continue", "default", "delete", "do", "double", "dynamic_cast",
        "else", "enum", "explicit", "extern", "false", "float", "for", "friend", "goto", "if", "inline",
        "int", "long", "mutable", "namespace", "new", "not", "not_eq", "operator", "or", "or_eq", "private",
        "protected", "public", "register", "reinterpret_cast", "return", "short", "signed", "sizeof",
        "static", "static_cast", "struct", "switch", "template", "this", "throw", "true", "try", "typedef",
        "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "wchar_t",
        "while", "xor", "xor_eq",
    ]
}
