import CapstanAPI

/// capctl's version: Capstan's.
public enum CapctlVersion {
    public static let current = CapstanVersion.current
}
