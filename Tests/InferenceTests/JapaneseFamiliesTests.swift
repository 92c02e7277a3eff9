// The Japanese model families on tiny random checkpoints (Tests/Fixtures/japanese, written with
// transformers by scripts/generate-japanese-fixtures): rinna-style gpt_neox with spiece.model and a
// T5Tokenizer config, llama with a SentencePiece-style tokenizer.json and llama3 rope scaling, mistral
// with a sliding window shorter than the prompt and old-style linear rope scaling, and rope-scaling
// variants of their configs. hayai's tokenizer gives transformers' ids, and the logits of every
// position equal transformers' within 1e-4.
import XCTest
import Foundation
import Checkpoints
@testable import Inference
import Tokenizers
import TestSupport

final class JapaneseFamiliesTests: XCTestCase {
    static let root = Fixtures.japanese("")

    struct Expected {
        /// `ids`: transformers' (the logits are of these); `tokenizerIDs`: what hayai's tokenizer must give
        /// (sentencepiece's for a spiece.model, else transformers').
        var prompts: [(text: String, ids: [Int], tokenizerIDs: [Int], lastLogits: [Float])]
        var allLogits: NpyArray?

        init(folder: URL) throws {
            let json = try Fixtures.json(folder.appendingPathComponent("expected.json")) as! [String: Any]
            prompts = (json["prompts"] as! [[String: Any]]).map { p in
                let ids = (p["ids"] as! [NSNumber]).map(\.intValue)
                return (p["text"] as! String, ids, (p["sentencepiece_ids"] as? [NSNumber])?.map(\.intValue) ?? ids,
                        (p["last_logits"] as! [NSNumber]).map(\.floatValue))
            }
            let npy = folder.appendingPathComponent("logits-0.npy")
            allLogits = FileManager.default.fileExists(atPath: npy.path) ? try NpyArray(url: npy) : nil
        }
    }

    /// Loads `folder`, checks the prompts' ids and logits against `expected` (a folder with expected.json and logits-0.npy).
    @discardableResult
    func checkAgainstTransformers(_ folder: URL, expected expectedFolder: URL? = nil, file: StaticString = #filePath,
                                  line: UInt = #line) throws -> Model {
        let expected = try Expected(folder: expectedFolder ?? folder)
        let model = try Model.load(path: folder.path)
        let tokenizer = try XCTUnwrap(model.tokenizer, file: file, line: line)
        let vocab = model.config.vocabSize
        let name = (expectedFolder ?? folder).lastPathComponent
        for (i, prompt) in expected.prompts.enumerated() {
            XCTAssertEqual(tokenizer.encode(prompt.text, addSpecialTokens: true), prompt.tokenizerIDs, "\(name) prompt \(i) ids", file: file, line: line)
            let logits = try InferenceSession(model: model).forward(prompt.ids, logits: .all)
            let n = prompt.ids.count
            XCTAssertLessThan(maxAbsDiff(logits[(n - 1) * vocab..<n * vocab], prompt.lastLogits[...]), 1e-4,
                              "\(name) prompt \(i) last logits", file: file, line: line)
            if i == 0, let all = expected.allLogits {
                XCTAssertEqual(all.shape, [n, vocab], file: file, line: line)
                for pos in 0..<n {
                    XCTAssertLessThan(maxAbsDiff(logits[pos * vocab..<(pos + 1) * vocab], all.values[pos * vocab..<(pos + 1) * vocab]),
                                      1e-4, "\(name) logits at position \(pos)", file: file, line: line)
                }
            }
        }
        return model
    }

    /// A variant: the base checkpoint's files with the variant's config.json, in a temporary folder.
    func variantFolder(_ name: String) throws -> URL {
        let variant = Self.root.appendingPathComponent("variants/\(name)")
        let base = try String(contentsOf: variant.appendingPathComponent("base"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let folder = Fixtures.temporaryDirectory("hayai-rope-\(name)")
        addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
        let source = Self.root.appendingPathComponent(base)
        for entry in try FileManager.default.contentsOfDirectory(atPath: source.path) where !["config.json", "expected.json", "logits-0.npy"].contains(entry) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(entry), to: folder.appendingPathComponent(entry))
        }
        try FileManager.default.copyItem(at: variant.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        return folder
    }

    func testRinnaStyleGPTNeoXWithSpieceModelMatchesTransformers() throws {
        let model = try checkAgainstTransformers(Self.root.appendingPathComponent("gptneox-spm"))
        XCTAssertEqual(model.config.architecture, .gptNeoX)
        XCTAssertFalse(model.config.parallelResidual)
        XCTAssertEqual(model.config.rotaryDim, model.config.headDim)  // rotary_pct 1.0
        XCTAssertFalse(model.config.tieWordEmbeddings)
        XCTAssertTrue(model.tokenizer is SentencePieceModelTokenizer)
    }

    func testLlamaWithSentencePieceTokenizerJSONAndLlama3RopeMatchesTransformers() throws {
        let model = try checkAgainstTransformers(Self.root.appendingPathComponent("llama-spm"))
        XCTAssertEqual(model.config.ropeScaling, .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 16))
        XCTAssertTrue(model.tokenizer is SentencePieceJSONTokenizer)
    }

    func testMistralSlidingWindowShorterThanThePromptMatchesTransformers() throws {
        let expectedFolder = Self.root.appendingPathComponent("variants/mistral-sw")
        let model = try checkAgainstTransformers(try variantFolder("mistral-sw"), expected: expectedFolder)
        XCTAssertEqual(model.config.slidingWindow, 4)
        XCTAssertEqual(model.config.ropeScaling, .linear(factor: 2))
        let expected = try Expected(folder: expectedFolder)
        XCTAssertNotNil(expected.allLogits)
        XCTAssertGreaterThan(expected.prompts[0].ids.count, 8, "the prompt must be longer than the window")
    }

    func testRopeScalingVariantsMatchTransformers() throws {
        for name in ["llama-rope-linear-old", "llama-rope-dynamic", "llama-rope-llama3-old", "gptneox-rope-linear", "gptneox-rope-default"] {
            try checkAgainstTransformers(try variantFolder(name), expected: Self.root.appendingPathComponent("variants/\(name)"))
        }
    }

    /// `hayai quantize` writes linear scaling as llama.cpp's keys and reads it back (same logits as
    /// transformers'); llama3 scaling (a rope_freqs tensor in llama.cpp's files) is refused, not dropped.
    /// The folder's SentencePiece tokenizer.json (Metaspace, legacy false) goes into the GGUF as llama.cpp's
    /// `llama` vocabulary, which gives transformers' ids.
    func testLinearRopeScalingSurvivesGGUFExportAndLlama3IsRefused() throws {
        let folder = try variantFolder("llama-rope-linear-old")
        let gguf = folder.appendingPathComponent("out.gguf").path
        try GGUFExport.quantize(input: folder.path, output: gguf, target: .f32)
        let file = try GGUFFile(path: gguf)
        XCTAssertEqual(file.string("llama.rope.scaling.type"), "linear")
        XCTAssertEqual(file.string("tokenizer.ggml.model"), "llama")
        let expected = try Expected(folder: Self.root.appendingPathComponent("variants/llama-rope-linear-old"))
        let model = try Model.load(path: gguf)
        XCTAssertEqual(model.config.ropeScaling, .linear(factor: 4))
        let tokenizer = try XCTUnwrap(model.tokenizer)
        XCTAssertTrue(tokenizer is SentencePieceTokenizer, "\(type(of: tokenizer))")
        for prompt in expected.prompts {
            XCTAssertEqual(tokenizer.encode(prompt.text, addSpecialTokens: true), prompt.ids, prompt.text.debugDescription)
            let logits = try InferenceSession(model: model).forward(prompt.ids, logits: .all)
            let n = prompt.ids.count, vocab = model.config.vocabSize
            XCTAssertLessThan(maxAbsDiff(logits[(n - 1) * vocab..<n * vocab], prompt.lastLogits[...]), 1e-4)
        }
        let llama3 = Self.root.appendingPathComponent("llama-spm").path
        XCTAssertThrowsError(try GGUFExport.quantize(input: llama3, output: folder.appendingPathComponent("l3.gguf").path, target: .f32)) {
            XCTAssertTrue("\($0)".contains("llama3 rope scaling"), "\($0)")
        }
    }

    /// Without the scaling the logits differ, so the tests above see it.
    func testRopeScalingChangesTheLogits() throws {
        let folder = try variantFolder("llama-rope-linear-old")
        let scaled = try Model.load(path: folder.path)
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("config.json"))) as! [String: Any]
        config["rope_scaling"] = nil
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        let plain = try Model.load(path: folder.path)
        let ids = try Expected(folder: Self.root.appendingPathComponent("variants/llama-rope-linear-old")).prompts[0].ids
        let a = try InferenceSession(model: scaled).forward(ids, logits: .all), b = try InferenceSession(model: plain).forward(ids, logits: .all)
        XCTAssertGreaterThan(maxAbsDiff(a[...], b[...]), 1e-2)
    }
}
