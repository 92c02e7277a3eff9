// issue #12 end to end: a base GGUF with a SentencePiece vocabulary, LoRA-tuned, merged and written back as a
// GGUF (`hayai merge BASE ADAPTER OUT --gguf TYPE`): the file carries the base's vocabulary as llama.cpp's
// `llama` tokenizer (the base's ids for llama.cpp's test vectors) and gives the merged folder's logits.
import XCTest
import Foundation
import Checkpoints
import Inference
import Tokenizers
@testable import Training
import TestSupport

final class SentencePieceMergeToGGUFTests: XCTestCase {
    func testALoRAMergedIntoASentencePieceGGUFBaseIsWrittenAsAGGUFWithTheBasesVocabulary() throws {
        let dir = Fixtures.temporaryDirectory("spm-merge-gguf")
        defer { try? FileManager.default.removeItem(at: dir) }
        // Rows of whole Q8_0 blocks (32), so the q8_0 file is quantized rather than kept in F16.
        var shape = TinyConfigs.llamaGGUF()
        shape.hiddenSize = 64; shape.intermediateSize = 96; shape.numHeads = 4; shape.numKVHeads = 2; shape.headDim = 16; shape.rotaryDim = 16
        let gguf = try llamaSentencePieceGGUF(in: dir, config: shape)
        let base = try BaseCheckpoint(path: gguf)
        let tokenizer = try base.tokenizer()
        let answers = shortAnswers
        let sequences = shortAnswerSequences(16, tokenizer: tokenizer)
        var config = SFTConfig()
        config.steps = 3; config.microBatchSize = 2; config.contextLength = 48; config.lr = 2e-2
        config.lora = try LoRASettings.parse(rank: 4, alpha: nil, targets: "q,k,v,o,gate,up,down", base: base)
        let adapter = dir.appendingPathComponent("adapter").path
        let run = try SFTRun(base: base, sequences: sequences, padToken: tokenizer.eosTokenIDs[0], config: config)
        XCTAssertEqual(try run.run(), 3)
        let template = "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        try run.save(to: adapter, chatTemplate: template, templateName: "test")

        let folder = dir.appendingPathComponent("merged").path
        try LoRAMerge.run(base: gguf, adapter: adapter, out: folder, gguf: nil)
        let merged = try Model.load(path: folder)
        let ids = tokenizer.encode("東京は日本の首都です。 Tokyo is the capital", addSpecialTokens: true)
        let reference = try InferenceSession(model: merged).forward(ids, logits: .all)
        let baseLogits = try InferenceSession(model: Model.load(path: gguf)).forward(ids, logits: .all)
        let adapterEffect = maxAbs(reference, baseLogits)
        XCTAssertGreaterThan(adapterEffect, 0.05, "the adapter changes the model, so a GGUF without it would be caught")

        let vectors = try Fixtures.llamaCppVocabularyVectors("ggml-vocab-llama-spm.gguf")
        // Max |Δ| to the merged folder's logits (measured: f32 7e-7, q8_0 0.033, against the adapter's own 2.1);
        // 0.15 is the Q8_0 tolerance seen between peers (shared/README.md).
        for (target, bound) in [(QuantizeTarget.f32, Float(1e-4)), (.q8_0, Float(0.15))] {
            let out = dir.appendingPathComponent("merged.\(target).gguf").path
            try LoRAMerge.run(base: gguf, adapter: adapter, out: out, gguf: target)
            let file = try GGUFFile(path: out)
            if target == .q8_0 {
                XCTAssertEqual(file.tensors.filter { $0.shape.count == 2 }.map(\.type), Array(repeating: .q8_0, count: 2 + 7 * shape.numLayers),
                               "every matrix (embedding, head, 7 a layer) in Q8_0")
            }
            XCTAssertEqual(file.string("tokenizer.ggml.model"), "llama", "\(target)")
            XCTAssertEqual(file.string("tokenizer.chat_template"), template, "the adapter's chat template")
            let model = try Model.load(path: out)
            let written = try XCTUnwrap(model.tokenizer as? SentencePieceTokenizer, "\(target): \(type(of: model.tokenizer))")
            for (text, expected) in vectors {
                XCTAssertEqual(written.encode(text, addSpecialTokens: false, parseSpecial: false), expected, "\(target): \(text.debugDescription)")
            }
            for text in answers + ["<s>inline</s> special <unk> tokens"] {
                XCTAssertEqual(written.encode(text, addSpecialTokens: true), tokenizer.encode(text, addSpecialTokens: true), text.debugDescription)
            }
            let logits = try InferenceSession(model: model).forward(ids, logits: .all)
            let difference = maxAbs(logits, reference)
            print("merge --gguf \(target): max |Δ| to the merged folder \(difference), the adapter's own effect \(adapterEffect)")
            XCTAssertLessThan(difference, bound, "\(target)")
        }
    }
}
