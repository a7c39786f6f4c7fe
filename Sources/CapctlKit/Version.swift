/// capctl's version.
public enum CapctlVersion {
    public static let current = "0.1.0"
}
