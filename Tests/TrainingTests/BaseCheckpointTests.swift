// Any checkpoint hayai runs is a base to train from: a GGUF's vocabulary (byte-level BPE or
// SentencePiece) is written as a tokenizer.json that gives the GGUF's ids (hayai's loader, and Hugging
// Face tokenizers where the Python package is installed), a llama GGUF with a SentencePiece vocabulary
// trains (full and LoRA) into folders that carry it, and a GGUF whose vocabulary hayai cannot read is
// refused up front.
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

    func assertWrittenTokenizerMatches(gguf path: String, label: String, moreTexts: [String] = []) throws {
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
        let texts = try self.texts() + moreTexts
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

    func testLlamaSentencePieceVocabularyWrittenAsTokenizerJSONGivesTheSameIDs() throws {
        let vocab = "ggml-vocab-llama-spm.gguf"
        let path = Fixtures.data("vocab/\(vocab)").path
        let base = try BaseCheckpoint(path: path)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: base.generatedTokenizerFiles["tokenizer.json"]!) as? [String: Any])
        XCTAssertEqual((json["model"] as? [String: Any])?["byte_fallback"] as? Bool, true)
        XCTAssertEqual(base.tokenizerConfig["add_bos_token"] as? Bool, true)
        // llama.cpp's test strings for this vocabulary, and special tokens written in the text.
        let vectors = try Fixtures.llamaCppVocabularyVectors(vocab)
        try assertWrittenTokenizerMatches(gguf: path, label: vocab, moreTexts: vectors.map(\.text) + ["<s>inline</s> special <unk> tokens", "\n\n  leading spaces"])
    }

    func testALlamaGGUFWithASentencePieceVocabularyTrainsIntoFoldersThatCarryIt() throws {
        let dir = Fixtures.temporaryDirectory("spm-base")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gguf = try llamaSentencePieceGGUF(in: dir)
        let base = try BaseCheckpoint(path: gguf)
        let tokenizer = try base.tokenizer()
        XCTAssertTrue(tokenizer is SentencePieceTokenizer)
        let answers = shortAnswers
        let sequences = shortAnswerSequences(24, tokenizer: tokenizer)
        var config = SFTConfig()
        config.steps = 2; config.microBatchSize = 2; config.contextLength = 48; config.lr = 1e-3
        let template = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        let texts = try Fixtures.llamaCppVocabularyVectors("ggml-vocab-llama-spm.gguf").map(\.text)

        let full = dir.appendingPathComponent("full").path
        let fullRun = try SFTRun(base: base, sequences: sequences, padToken: tokenizer.eosTokenIDs[0], config: config)
        XCTAssertGreaterThan(fullRun.memory.process, 1_000_000, "the estimate counts what the process held before the model")
        XCTAssertEqual(try fullRun.run(), 2)
        try fullRun.save(to: full, chatTemplate: template, templateName: "test")
        let model = try Model.load(path: full)
        XCTAssertEqual(model.config.vocabSize, 32000)
        let written = try XCTUnwrap(model.tokenizer)
        XCTAssertTrue(written is SentencePieceJSONTokenizer, "\(type(of: written))")
        for text in texts + answers {
            XCTAssertEqual(written.encode(text, addSpecialTokens: true), tokenizer.encode(text, addSpecialTokens: true), text.debugDescription)
        }
        XCTAssertEqual(try TokenizerConfig.load(path: full + "/tokenizer_config.json").chat_template?.template(named: "default"), template)

        config.lora = try LoRASettings.parse(rank: 2, alpha: nil, targets: "q,k,v,o,gate,up,down", base: base)
        let adapter = dir.appendingPathComponent("adapter").path
        let loraRun = try SFTRun(base: base, sequences: sequences, padToken: tokenizer.eosTokenIDs[0], config: config)
        XCTAssertEqual(try loraRun.run(), 2)
        try loraRun.save(to: adapter, chatTemplate: template, templateName: "test")
        let fromAdapter = try TokenizerLoader.load(folder: adapter)
        XCTAssertEqual(fromAdapter.encode(answers[1], addSpecialTokens: true), tokenizer.encode(answers[1], addSpecialTokens: true))
        XCTAssertEqual(try TokenizerConfig.load(path: adapter + "/tokenizer_config.json").chat_template?.template(named: "default"), template)
        XCTAssertNoThrow(try Model.load(path: gguf, adapter: adapter))
    }

    func testAGGUFWhoseVocabularyHayaiCannotReadIsRefusedBeforeTraining() throws {
        let dir = Fixtures.temporaryDirectory("bert-vocab")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bert.gguf").path
        var writer = GGUFWriter(path: path)
        try writer.set("general.architecture", .string("llama"))
        try writer.set("tokenizer.ggml.model", .string("bert"))
        try writer.set("tokenizer.ggml.tokens", .array(["[PAD]", "[UNK]", "hello"].map { .string($0) }))
        try writer.write()
        assertOneLineError(path, "bert", of: TokenizerError.self) { try BaseCheckpoint(path: path) }
        XCTAssertThrowsError(try BaseCheckpoint(path: "/nonexistent/model.gguf")) { XCTAssertTrue("\($0)".contains("no such file")) }
    }
}
