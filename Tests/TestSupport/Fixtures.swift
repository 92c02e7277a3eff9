// Where the tests find ../shared (fixtures and data sets) and the built `hayai` binary.
import Foundation

public enum Fixtures {
    /// The repository root (the folder holding Package.swift).
    public static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// ../shared beside the repository, or HAYAI_SHARED when set.
    public static let shared: URL = {
        if let env = ProcessInfo.processInfo.environment["HAYAI_SHARED"] { return URL(fileURLWithPath: env) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// The tiny Japanese-family checkpoints and tokenizers committed in the repository
    /// (Tests/Fixtures/japanese, written by scripts/generate-japanese-fixtures).
    public static func japanese(_ relative: String) -> URL {
        repoRoot.appendingPathComponent("Tests/Fixtures/japanese").appendingPathComponent(relative)
    }

    public static func fixture(_ relative: String) -> URL { shared.appendingPathComponent("fixtures").appendingPathComponent(relative) }
    public static func data(_ relative: String) -> URL { shared.appendingPathComponent("data").appendingPathComponent(relative) }

    public static func json(_ url: URL) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url), options: [.fragmentsAllowed])
    }

    /// A fresh temporary directory, removed by the caller when it likes.
    public static func temporaryDirectory(_ label: String = "hayai-test") -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
