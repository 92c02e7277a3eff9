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
        for text in ["<s>inline</s> special <unk> tokens", "\n\n  leading spaces", "日本語の文章と English words 混在 123"] {
            XCTAssertEqual(reloaded.encode(text, addSpecialTokens: true), original.encode(text, addSpecialTokens: true), text.debugDescription)
        }
    }
}
