// Any checkpoint hayai runs is a base to train from: a GGUF's byte-level BPE vocabulary is written as
// a tokenizer.json that gives the GGUF's ids (hayai's loader, and Hugging Face tokenizers where the
// Python package is installed), and a GGUF that names no byte-level vocabulary is refused up front.
import XCTest
import Foundation
import Checkpoints
import Inference
import Tokenizers
@testable import Training
import TestSupport

final class BaseCheckpointTests: XCTestCase {
    /// The fixtures' awkward strings plus code, digits and chat markers.
    func texts() throws -> [String] {
        let cases = (try Fixtures.json(Fixtures.fixture("tokenizer_cases.json")) as! [String: Any])["cases"] as! [[String: Any]]
        return cases.map { $0["text"] as! String } + [
            "def f(x):\n    return x**2  # 12345 67", "<|im_start|>user\nこんにちは、世界！<|im_end|>\n", "  spaces   and\ttabs\n\n",
            "Numbers: 3.14159, 2,718, 1000000; émigré naïve café", "日本語の文章と English words 混在 123",
        ]
    }

    func assertWrittenTokenizerMatches(gguf path: String, label: String) throws {
        let base = try BaseCheckpoint(path: path)
        XCTAssertFalse(base.isFolder)
        let dir = Fixtures.temporaryDirectory("base-tokenizer")
        defer { try? FileManager.default.removeItem(at: dir) }
        try base.generatedTokenizerFiles["tokenizer.json"]!.write(to: dir.appendingPathComponent("tokenizer.json"))
        try JSONSerialization.data(withJSONObject: base.tokenizerConfig).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let original = try TokenizerLoader.load(gguf: GGUFFile(path: path))
        let written = try TokenizerLoader.load(folder: dir.path)
        XCTAssertEqual(written.vocabularySize, original.vocabularySize, label)
        XCTAssertEqual(written.bosTokenID, original.bosTokenID, label)
        XCTAssertEqual(written.eosTokenIDs.first, original.eosTokenIDs.first, label)
        let texts = try self.texts()
        for text in texts {
            XCTAssertEqual(written.encode(text, addSpecialTokens: true), original.encode(text, addSpecialTokens: true), "\(label): \(text.debugDescription)")
        }
        // Hugging Face tokenizers reads the file to the same ids (when the package is installed).
        let inputs = dir.appendingPathComponent("texts.json")
        try JSONSerialization.data(withJSONObject: texts).write(to: inputs)
        let script = """
        import json, sys
        try:
            from tokenizers import Tokenizer
        except ImportError:
            print("SKIP"); sys.exit(0)
        t = Tokenizer.from_file(sys.argv[1])
        print(json.dumps([t.encode(s).ids for s in json.load(open(sys.argv[2]))]))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, dir.appendingPathComponent("tokenizer.json").path, inputs.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard p.terminationStatus == 0, text != "SKIP" else { return }
        let hf = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[Int]]
        for (i, s) in texts.enumerated() {
            XCTAssertEqual(hf[i], original.encode(s, addSpecialTokens: true), "\(label) (HF tokenizers): \(s.debugDescription)")
        }
    }

    func testFixtureGGUFVocabularyWrittenAsTokenizerJSONGivesTheSameIDs() throws {
        try assertWrittenTokenizerMatches(gguf: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path, label: "stablelm-tiny")
        for vocab in ["ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-neox.gguf"] {
            try assertWrittenTokenizerMatches(gguf: Fixtures.data("vocab/\(vocab)").path, label: vocab)
        }
    }

    func testSmolLM2VocabularyWrittenAsTokenizerJSONGivesTheSameIDs() throws {
        let url: URL
        do { url = try SmolLM2.ggufPath() } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip(e.description) }
            throw e
        }
        try assertWrittenTokenizerMatches(gguf: url.path, label: "SmolLM2")
        XCTAssertTrue((try BaseCheckpoint(path: url.path).tokenizerConfig["chat_template"] as? String ?? "").contains("<|im_start|>"))
    }

    func testAGGUFWithoutAByteLevelVocabularyIsRefusedBeforeTraining() throws {
        let llama = Fixtures.data("vocab/ggml-vocab-llama-spm.gguf").path
        guard FileManager.default.fileExists(atPath: llama) else { throw XCTSkip("no \(llama)") }
        XCTAssertThrowsError(try BaseCheckpoint(path: llama)) { error in
            XCTAssertTrue("\(error)".contains("not byte-level BPE"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
        XCTAssertThrowsError(try BaseCheckpoint(path: "/nonexistent/model.gguf")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }
}
