// `hayai quantize`'s writer (GGUFExport): files byte-identical to llama.cpp's converter output for
// the tiny fixtures, the same metadata keys for every type, and every type's file reloading with
// the logits of the same quantization done in memory, within each format's tolerance of F32; a synthetic
// shape written with a real vocabulary reloads as the same model.
import XCTest
import Foundation
import Checkpoints
import Kernels
@testable import Inference
import TestSupport

final class QuantizeExportTests: XCTestCase {
    let dir = Fixtures.temporaryDirectory("hayai-quantize")

    func testHuggingFaceFolderToQ8_0IsByteIdenticalToLlamaCppConverter() throws {
        let out = dir.appendingPathComponent("stablelm-tiny.q8_0.gguf").path
        try GGUFExport.quantize(input: Fixtures.fixture("stablelm-tiny").path, output: out, target: .q8_0)
        let mine = try GGUFFile(path: out), theirs = try GGUFFile(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path)
        XCTAssertEqual(mine.metadataKeys, theirs.metadataKeys)
        for k in theirs.metadataKeys { XCTAssertEqual(mine.metadata[k], theirs.metadata[k], k) }
        XCTAssertEqual(mine.tensors.map(\.name), theirs.tensors.map(\.name))
        for t in theirs.tensors {
            let m = try mine.info(t.name)
            XCTAssertEqual(m.type, t.type, t.name); XCTAssertEqual(m.shape, t.shape, t.name)
            XCTAssertEqual(Data(bytes: mine.rawData(m), count: m.byteCount), Data(bytes: theirs.rawData(t), count: t.byteCount), t.name)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: Fixtures.fixture("stablelm-tiny.q8_0.gguf")))
    }

    func testF32FilesOfEveryArchitectureAreByteIdenticalToTheConverters() throws {
        for f in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            let out = dir.appendingPathComponent("\(f).f32.gguf").path
            try GGUFExport.quantize(input: Fixtures.fixture(f).path, output: out, target: .f32)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out)), try Data(contentsOf: Fixtures.fixture("\(f).f32.gguf")), f)
        }
    }

    func testEveryTypeReloadsWithTheInMemoryLogitsAndNearF32() throws {
        let folder = Fixtures.fixture("stablelm-tiny").path
        let reference = try Model.load(path: folder)
        let ids = try GoldenPrompt.load("stablelm-tiny")[0].ids
        let f32 = try InferenceSession(model: reference).forward(ids, logits: .all)
        let fixtureKeys = Set(try GGUFFile(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path).metadataKeys)
        // Max |Δ| to the F32 logits on this prompt, with headroom over what was measured (f16 0.003,
        // q8_0 and q6_k (Q8_0 here) 0.099, 5-bit 0.54–0.59, 4-bit up to ~1.1). The tiny model's rows of 64 are
        // not whole 256-blocks, so its K types fall back to Q5_0/Q5_1/Q8_0 as llama-quantize does.
        let bounds: [QuantizeTarget: Float] = [.f32: 1e-5, .f16: 5e-3, .q8_0: 0.15, .q6_k: 0.15, .q5_0: 1.0, .q5_1: 1.0, .q5_k: 1.0,
                                               .q5_k_m: 1.0, .q4_k: 1.0, .q4_k_m: 1.0, .q4_0: 2.0, .q4_1: 2.0,
                                               .q2_k: 2.0, .q3_k_m: 2.0, .iq4_nl: 2.0, .iq4_xs: 2.0]
        for target in QuantizeTarget.allCases {
            let out = dir.appendingPathComponent("t.\(target).gguf").path
            try GGUFExport.quantize(input: folder, output: out, target: target)
            let file = try GGUFFile(path: out)
            XCTAssertEqual(Set(file.metadataKeys), fixtureKeys, "\(target) metadata keys")
            XCTAssertEqual(file.int("general.file_type"), Int(target.fileType))
            let loaded = try InferenceSession(model: Model.load(path: out)).forward(ids, logits: .all)
            let inMemory = try InferenceSession(model: reference.quantized(to: target)).forward(ids, logits: .all)
            let same = maxAbsDiff(loaded[...], inMemory[...]), toF32 = maxAbsDiff(loaded[...], f32[...])
            print("quantize \(target): file vs in-memory \(same), vs F32 \(toF32), \(try Data(contentsOf: URL(fileURLWithPath: out)).count) bytes")
            XCTAssertLessThan(same, 1e-5, "\(target): file and in-memory quantization differ")
            XCTAssertLessThan(toF32, bounds[target]!, "\(target) vs F32")
        }
    }

    func testPlanFollowsLlamaQuantizeRules() {
        let plan = { (name: String, cols: Int, t: QuantizeTarget) in
            QuantizationPlan.type(for: name, shape: [64, cols], target: t, layerCount: 24, hasOutput: true, queryHeadsPerKVHead: 1)
        }
        XCTAssertEqual(plan("output.weight", 2048, .q4_0), .q6_K)
        XCTAssertEqual(plan("output.weight", 2048, .q8_0), .q8_0)
        XCTAssertEqual(plan("output.weight", 2080, .q4_k_m), .q8_0)
        XCTAssertEqual(plan("blk.0.attn_v.weight", 2048, .q4_k_m), .q6_K)     // first eighth
        XCTAssertEqual(plan("blk.4.attn_v.weight", 2048, .q4_k_m), .q4_K)     // (4 - 3) % 3 != 2
        XCTAssertEqual(plan("blk.3.ffn_down.weight", 2048, .q4_k_m), .q4_K)
        XCTAssertEqual(plan("blk.5.ffn_down.weight", 2048, .q4_k_m), .q6_K)   // (5 - 3) % 3 == 2
        XCTAssertEqual(plan("blk.23.ffn_down.weight", 2048, .q4_k_m), .q6_K)  // last eighth
        XCTAssertEqual(plan("blk.3.attn_q.weight", 2048, .q4_k_m), .q4_K)
        XCTAssertEqual(plan("blk.5.ffn_down.weight", 2048, .q5_k_m), .q6_K)   // Q5_K_M bumps the same layers
        XCTAssertEqual(plan("blk.4.attn_v.weight", 2048, .q5_k_m), .q5_K)
        XCTAssertEqual(plan("blk.4.attn_qkv.weight", 2048, .q5_k_m), .q6_K)
        XCTAssertEqual(plan("blk.4.attn_qkv.weight", 2048, .q4_k_m), .q5_K)
        XCTAssertEqual(plan("blk.0.ffn_down.weight", 176, .q8_0), .f16)       // rows not whole blocks
        XCTAssertEqual(plan("blk.3.attn_q.weight", 2048, .q3_k_m), .q3_K)     // Q3_K_M
        XCTAssertEqual(plan("blk.3.ffn_up.weight", 2048, .q3_k_m), .q3_K)
        XCTAssertEqual(plan("blk.1.attn_v.weight", 2048, .q3_k_m), .q5_K)     // the first two attn_v
        XCTAssertEqual(plan("blk.2.attn_v.weight", 2048, .q3_k_m), .q4_K)
        XCTAssertEqual(plan("blk.0.ffn_down.weight", 2048, .q3_k_m), .q5_K)   // first sixteenth (24 / 16 = 1 layer)
        XCTAssertEqual(plan("blk.1.ffn_down.weight", 2048, .q3_k_m), .q4_K)
        XCTAssertEqual(plan("blk.23.ffn_down.weight", 2048, .q3_k_m), .q4_K)
        XCTAssertEqual(plan("blk.7.attn_output.weight", 2048, .q3_k_m), .q4_K)
        XCTAssertEqual(plan("blk.7.attn_qkv.weight", 2048, .q3_k_m), .q4_K)
        XCTAssertEqual(plan("output.weight", 2048, .q3_k_m), .q6_K)
        XCTAssertEqual(plan("blk.3.attn_k.weight", 160, .q3_k_m), .iq4_nl)    // Q3_K fallback
        XCTAssertEqual(plan("blk.0.ffn_up.weight", 160, .q4_k), .q5_0)        // K fallback
        XCTAssertEqual(plan("blk.7.ffn_up.weight", 2048, .q2_k), .q2_K)
        XCTAssertEqual(plan("blk.7.attn_qkv.weight", 2048, .q2_k), .q2_K)
        XCTAssertEqual(plan("blk.7.attn_v.weight", 2048, .q2_k), .q3_K)       // fewer than 4 query heads per KV head
        XCTAssertEqual(QuantizationPlan.type(for: "blk.7.attn_v.weight", shape: [64, 2048], target: .q2_k, layerCount: 24, hasOutput: true,
                                             queryHeadsPerKVHead: 4), .q4_K)
        XCTAssertEqual(plan("blk.7.attn_output.weight", 2048, .q2_k), .q3_K)
        XCTAssertEqual(plan("blk.7.ffn_down.weight", 2048, .q2_k), .q3_K)
        XCTAssertEqual(plan("output.weight", 2048, .q2_k), .q6_K)
        XCTAssertEqual(plan("token_embd.weight", 2048, .q2_k), .q2_K)
        XCTAssertEqual(plan("blk.0.ffn_up.weight", 160, .q2_k), .iq4_nl)      // Q2_K fallback
        XCTAssertEqual(plan("output.weight", 2048, .iq4_xs), .q6_K)
        XCTAssertEqual(plan("blk.2.ffn_down.weight", 2048, .iq4_xs), .q5_K)   // first eighth (24 / 8 = 3 layers)
        XCTAssertEqual(plan("blk.3.ffn_down.weight", 2048, .iq4_nl), .iq4_nl)
        XCTAssertEqual(plan("blk.5.ffn_down.weight", 2048, .iq4_xs), .iq4_xs) // no use_more_bits for IQ4
        XCTAssertEqual(plan("blk.0.ffn_up.weight", 160, .iq4_xs), .iq4_nl)    // IQ4_XS fallback
        XCTAssertEqual(plan("blk.0.attn_v.weight", 2048, .iq4_xs), .iq4_xs)   // no grouped-query attention
        for (groups, type) in [(2, GGMLType.iq4_xs), (4, .q5_K), (8, .q5_K)] {
            XCTAssertEqual(QuantizationPlan.type(for: "blk.9.attn_v.weight", shape: [64, 2048], target: .iq4_xs, layerCount: 24,
                                                 hasOutput: true, queryHeadsPerKVHead: groups), type, "\(groups) query heads per KV head")
        }
        XCTAssertEqual(QuantizationPlan.type(for: "blk.0.attn_norm.weight", shape: [64], target: .q4_0, layerCount: 2, hasOutput: true, queryHeadsPerKVHead: 1), .f32)
        let half = (0..<24).filter { QuantizationPlan.useMoreBits(layer: $0, of: 24) }.count
        XCTAssertEqual(half, 12)   // "half of attn_v/ffn_down"
    }

    /// `quantize --synthetic`: the file holds exactly the weights `bench --synthetic` builds (same logits),
    /// the shape's config, and the vocabulary's tokenizer padded to the shape's vocabulary.
    func testASyntheticShapeWrittenWithAVocabularyReloadsAsTheSameModel() throws {
        let out = dir.appendingPathComponent("synthetic-tiny.gguf").path
        let vocab = Fixtures.fixture("stablelm-tiny.q8_0.gguf").path
        let summary = try GGUFExport.writeSynthetic(.tiny, target: .q8_0, vocabulary: vocab, output: out, seed: 3)
        XCTAssertGreaterThan(summary.typeCounts[.q8_0] ?? 0, 0)
        let loaded = try Model.load(path: out, interleave: false)
        XCTAssertEqual(loaded.config.vocabSize, SyntheticShape.tiny.config.vocabSize)
        XCTAssertEqual(loaded.config.numLayers, 2)
        let file = try GGUFFile(path: out), source = try GGUFFile(path: vocab)
        let tokens = try XCTUnwrap(file.stringArray("tokenizer.ggml.tokens"))
        XCTAssertEqual(tokens.count, SyntheticShape.tiny.config.vocabSize)
        XCTAssertEqual(Array(tokens.prefix(source.stringArray("tokenizer.ggml.tokens")!.count)), source.stringArray("tokenizer.ggml.tokens")!)
        let tokenizer = try XCTUnwrap(loaded.tokenizer)
        let ids = tokenizer.encode("Hello, synthetic world", addSpecialTokens: true)
        XCTAssertEqual(ids, try XCTUnwrap(try Model.load(path: vocab).tokenizer).encode("Hello, synthetic world", addSpecialTokens: true))
        let inMemory = try Model.synthetic(config: SyntheticShape.tiny.config, target: .q8_0, seed: 3, interleave: false)
        XCTAssertEqual(try InferenceSession(model: loaded).forward(ids, logits: .all), try InferenceSession(model: inMemory).forward(ids, logits: .all))

        let llama = Fixtures.data("vocab/ggml-vocab-llama-spm.gguf").path   // 32000 tokens do not fit 2000
        assertOneLineError(llama, "do not fit the tiny shape's vocabulary of 2000", of: InferenceError.self) {
            try GGUFExport.writeSynthetic(.tiny, target: .q8_0, vocabulary: llama, output: out)
        }
    }
}
