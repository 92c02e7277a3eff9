// A SentencePiece vocabulary survives GGUF → tokenizer.json → GGUF: GGUFExport writes a SentencePiece-style
// tokenizer.json as llama.cpp's `llama` vocabulary, and the written GGUF tokenizes llama.cpp's test vectors
// to their ids, with the original's token types, special ids and flags, and scores in the original's order.
import XCTest
import Foundation
import Checkpoints
import Tokenizers
@testable import Inference
import TestSupport

final class SentencePieceGGUFExportTests: XCTestCase {
    let vocabName = "ggml-vocab-llama-spm.gguf"

    /// A llama config with `vocab` ids (the tokenizer metadata reads only the vocabulary size).
    func llamaConfig(vocab: Int) -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: vocab, hiddenSize: 48, intermediateSize: 76, numLayers: 2,
                    numHeads: 6, numKVHeads: 2, headDim: 8, maxPositions: 64, norm: .rmsNorm, normEps: 1e-5,
                    rotaryDim: 8, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                    mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
    }

    /// Writes `folder`'s tokenizer as a vocabulary-only GGUF the way `quantize` writes it, and opens it.
    func exportVocabulary(folder: URL, vocab: Int) throws -> GGUFFile {
        let out = folder.appendingPathComponent("vocab.gguf").path
        var writer = GGUFWriter(path: out)
        try writer.set("general.architecture", .string("llama"))
        for (key, value) in try GGUFExport.tokenizerMetadata(folder: folder.path, config: llamaConfig(vocab: vocab)) {
            try writer.set(key, value)
        }
        try writer.write()
        return try GGUFFile(path: out)
    }

    func testLlamaVocabularyRoundTripsThroughTokenizerJSONToTheSameIDsTypesAndSpecialTokens() throws {
        let originalFile = try GGUFFile(url: Fixtures.data("vocab/\(vocabName)"))
        let original = try XCTUnwrap(try TokenizerLoader.load(gguf: originalFile) as? SentencePieceTokenizer)
        let dir = Fixtures.temporaryDirectory("spm-gguf-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
        let files = try XCTUnwrap(GGUFTokenizerFiles.files(for: original, chatTemplate: template, modelMaxLength: 4096))
        for (name, data) in files { try data.write(to: dir.appendingPathComponent(name)) }

        let written = try exportVocabulary(folder: dir, vocab: 32000)
        XCTAssertEqual(written.string("tokenizer.ggml.model"), "llama")
        // Compared piece by piece (by bytes: String equality would take canonically equivalent pieces as one).
        let writtenTokens = try XCTUnwrap(written.stringArray("tokenizer.ggml.tokens")), writtenTypes = try XCTUnwrap(written.intArray("tokenizer.ggml.token_type"))
        let tokens = try XCTUnwrap(originalFile.stringArray("tokenizer.ggml.tokens")), types = try XCTUnwrap(originalFile.intArray("tokenizer.ggml.token_type"))
        XCTAssertEqual(writtenTokens.count, tokens.count)
        XCTAssertEqual(zip(writtenTokens, tokens).filter { Array($0.utf8) != Array($1.utf8) }.map { "\($0.debugDescription) for \($1.debugDescription)" }, [])
        XCTAssertEqual((0..<min(types.count, writtenTypes.count)).filter { writtenTypes[$0] != types[$0] }.map { "\(tokens[$0].debugDescription): \(writtenTypes[$0]) for \(types[$0])" }, [])
        for key in ["bos_token_id", "eos_token_id", "unknown_token_id"] {
            XCTAssertEqual(written.int("tokenizer.ggml.\(key)"), originalFile.int("tokenizer.ggml.\(key)"), key)
        }
        for key in ["add_bos_token", "add_eos_token"] {
            XCTAssertEqual(written.bool("tokenizer.ggml.\(key)"), originalFile.bool("tokenizer.ggml.\(key)"), key)
        }
        XCTAssertEqual(written.bool("tokenizer.ggml.add_space_prefix"), true)
        XCTAssertEqual(written.string("tokenizer.chat_template"), template)

        // Scores: tokenizer.json keeps only their order (the merges), so the written scores must order every
        // piece a merge makes as the original's do; where the original ties, the merges' order decides.
        let scores = try XCTUnwrap(written.floatArray("tokenizer.ggml.scores"))
        let originalScores = try XCTUnwrap(originalFile.floatArray("tokenizer.ggml.scores"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: files["tokenizer.json"]!) as? [String: Any])
        let mergeCount = try XCTUnwrap((json["model"] as? [String: Any])?["merges"] as? [Any]).count
        let mergedPieces = (0..<tokens.count).filter { types[$0] == 1 && scores[$0] > -Float(mergeCount) }   // -rank of its first merge
        XCTAssertGreaterThan(mergedPieces.count, 25000)
        let byWritten = mergedPieces.sorted { scores[$0] > scores[$1] }
        for (a, b) in zip(byWritten, byWritten.dropFirst()) where originalScores[a] < originalScores[b] {
            XCTFail("\(tokens[a].debugDescription) (\(a), \(originalScores[a]) → \(scores[a])) scores below \(tokens[b].debugDescription) (\(b), \(originalScores[b]) → \(scores[b])) in the original but above it as written"); break
        }
        for id in 0..<tokens.count where types[id] != 1 { XCTAssertEqual(scores[id], originalScores[id], tokens[id]) }

        // llama.cpp's test vectors (no BOS, control tokens in the text not parsed), and text with special tokens.
        let reloaded = try XCTUnwrap(try TokenizerLoader.load(gguf: written) as? SentencePieceTokenizer)
        let vectors = try Fixtures.llamaCppVocabularyVectors(vocabName)
        XCTAssertEqual(vectors.count, 46)
        for (text, ids) in vectors {
            XCTAssertEqual(reloaded.encode(text, addSpecialTokens: false, parseSpecial: false), ids, text.debugDescription)
        }
        // The Greek pieces Llama holds twice (precomposed and as their canonical equivalents) keep their own ids.
        let fromJSON = try TokenizerLoader.load(folder: dir.path)
        for text in ["<s>inline</s> special <unk> tokens", "\n\n  leading spaces", "日本語の文章と English words 混在 123",
                     "\u{1F71}\u{03AC} \u{1F77}\u{03AF} \u{1F79}\u{03CC}"] {
            XCTAssertEqual(reloaded.encode(text, addSpecialTokens: true), original.encode(text, addSpecialTokens: true), text.debugDescription)
            XCTAssertEqual(fromJSON.encode(text, addSpecialTokens: true), original.encode(text, addSpecialTokens: true), "tokenizer.json: \(text.debugDescription)")
        }
    }

    /// A Unigram tokenizer.json (rinna's, T5-style) keeps its scores, as the converter writes a Unigram
    /// tokenizer.model; its post-processor's EOS becomes add_eos_token.
    func testUnigramTokenizerJSONKeepsItsPiecesScoresAndSpecialTokens() throws {
        let folder = Fixtures.japanese("tokenizer-rinna-json")
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("tokenizer.json"))) as? [String: Any])
        let vocab = try XCTUnwrap((json["model"] as? [String: Any])?["vocab"] as? [[Any]])
        let written = try exportVocabulary(folder: try copy(folder), vocab: 404)
        let tokens = try XCTUnwrap(written.stringArray("tokenizer.ggml.tokens")), scores = try XCTUnwrap(written.floatArray("tokenizer.ggml.scores"))
        let types = try XCTUnwrap(written.intArray("tokenizer.ggml.token_type"))
        XCTAssertEqual(tokens.count, 404)
        XCTAssertEqual(Array(tokens.prefix(vocab.count)), vocab.map { $0[0] as! String })
        XCTAssertEqual(Array(scores.prefix(vocab.count)), vocab.map { Float(($0[1] as! NSNumber).doubleValue) })
        // The model's unk_id (2 in this file, as tokenizers reads it) is UNKNOWN, the other special added tokens
        // CONTROL, the pieces NORMAL; unknown_token_id is SpecialVocab's: tokenizer_config.json's unk_token.
        let unk = try XCTUnwrap((json["model"] as? [String: Any])?["unk_id"] as? Int)
        XCTAssertEqual(Array(types.prefix(5)), (0..<5).map { $0 == unk ? 2 : $0 < 4 ? 3 : 1 })
        XCTAssertEqual(Array(tokens.suffix(4)), (vocab.count..<404).map { "[PAD\($0)]" })
        XCTAssertEqual(Array(types.suffix(4)), [5, 5, 5, 5], "padding is UNUSED")
        XCTAssertEqual(written.int("tokenizer.ggml.unknown_token_id"), 1)
        XCTAssertEqual(written.int("tokenizer.ggml.eos_token_id"), 3)
        XCTAssertEqual(written.int("tokenizer.ggml.padding_token_id"), 0)
        XCTAssertEqual(written.bool("tokenizer.ggml.add_bos_token"), false)
        XCTAssertEqual(written.bool("tokenizer.ggml.add_eos_token"), true)
        let reloaded = try TokenizerLoader.load(gguf: written)
        XCTAssertEqual(reloaded.encode("abc", addSpecialTokens: true).last, 3)
    }

    /// A tokenizer.json that is neither byte-level BPE nor SentencePiece-style is a one-line error naming it.
    func testAWordPieceTokenizerJSONIsAOneLineError() throws {
        let dir = Fixtures.temporaryDirectory("wordpiece")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("tokenizer.json").path
        try Data(#"{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1}}, "added_tokens": []}"#.utf8).write(to: URL(fileURLWithPath: path))
        assertOneLineError(path, "SentencePiece", of: CheckpointError.self) {
            try GGUFExport.tokenizerMetadata(folder: dir.path, config: llamaConfig(vocab: 2))
        }
    }

    /// A copy of a committed fixture folder to write beside.
    func copy(_ folder: URL) throws -> URL {
        let dir = Fixtures.temporaryDirectory("spm-gguf-copy")
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        for entry in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(entry), to: dir.appendingPathComponent(entry))
        }
        return dir
    }
}
