/// The version of Capstan's programs (`capstan --version`, `capctl version`).
public enum CapstanVersion {
    public static let current = "0.1.0"
}
