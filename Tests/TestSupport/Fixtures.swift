// Where the tests find ../shared (fixtures and data sets) and the built `hayai` binary.
import Foundation
import XCTest

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

    /// llama.cpp's tokenizer test vectors beside a vocab-only GGUF in data/vocab (`.inp`/`.out`): inputs
    /// separated by "\n__ggml_vocab_test__\n" (the text after the last separator is not an input),
    /// expected ids space-separated, one line per input.
    public static func llamaCppVocabularyVectors(_ vocab: String) throws -> [(text: String, ids: [Int])] {
        let inp = try String(contentsOf: data("vocab/\(vocab).inp"), encoding: .utf8)
        let out = try String(contentsOf: data("vocab/\(vocab).out"), encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        inputs.removeLast()
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard inputs.count == lines.count else {
            throw XCTSkip("\(vocab): \(inputs.count) inputs but \(lines.count) expected lines")
        }
        return zip(inputs, lines).map { text, line in
            (text, line.split(separator: " ").map { Int($0)! })
        }
    }
}
