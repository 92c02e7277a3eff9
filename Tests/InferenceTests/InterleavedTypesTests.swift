// Models of the types whose matrices run interleaved on AVX512-VNNI (QuantizedMatrix.interleaved(),
// CKernels/quant_x16.c) give the logits of the GGUF row layout (AVX2 kernels, themselves tested
// against the scalar references), for the prompt and for token-by-token decoding. The stablelm-tiny
// fixtures' rows of 64 are not whole K-quant super-blocks, so this decoder's rows are multiples of 256.
import XCTest
import Foundation
import Basics
import Checkpoints
import Kernels
import Inference
import TestSupport

final class InterleavedTypesTests: XCTestCase {
    private let config = ModelConfig(
        architecture: .stablelm, vocabSize: 512, hiddenSize: 256, intermediateSize: 768, numLayers: 2, numHeads: 4, numKVHeads: 4,
        maxPositions: 64, norm: .layerNorm, normEps: 1e-5, rotaryDim: 16, ropeTheta: 10000, parallelResidual: false, qkvBias: true,
        outputBias: false, mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)

    /// Both layouts compute the same integer dots, but their float sums differ in the last bits and an
    /// activation that lands on a rounding boundary of the next Q8 quantization then takes the other
    /// code: the logits drift apart by a few such flips. That drift is held to a small share of what
    /// the format itself costs (the same weights unquantized), which a wrong kernel would not meet.
    func testKQuantAndLegacyModelsGiveTheRowLayoutsLogits() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        let ids = (0..<11).map { ($0 * 37 + 5) % config.vocabSize }
        let vocab = config.vocabSize
        // The synthetic weights draw the same random values for every type: .f32 is them unquantized.
        let exact = try InferenceSession(model: Model.synthetic(config: config, target: .f32, seed: 3)).forward(ids, logits: .all)
        for target in [QuantizeTarget.q4_k_m, .q5_k_m, .q4_1, .q5_0, .q5_1, .q2_k, .q3_k_m] {
            let fast = try Model.synthetic(config: config, target: target, seed: 3)
            let rows = try Model.synthetic(config: config, target: target, seed: 3, interleave: false)
            // Q4_K_M / Q5_K_M: layer 1 (the last eighth) has Q6_K attn_v and ffn_down, the output is Q6_K;
            // Q2_K: Q2_K up, Q3_K ffn_down.
            XCTAssertTrue(fast.weights.layers[0].mlp.up.weight.isInterleaved, "\(target)")
            XCTAssertTrue(fast.weights.layers[1].down.weight.isInterleaved, "\(target)")
            XCTAssertTrue(fast.weights.output.isInterleaved, "\(target)")
            XCTAssertFalse(rows.weights.layers[0].mlp.up.weight.isInterleaved)
            if target == .q2_k { XCTAssertEqual(fast.weights.layers[0].mlp.up.weight.typeName, "Q2_K") }
            if target == .q3_k_m { XCTAssertEqual(fast.weights.layers[0].mlp.up.weight.typeName, "Q3_K") }
            try assertFastPathGivesTheRowLayoutsLogits(fast: fast, rows: rows, exact: exact, ids: ids, vocab: vocab, "\(target)")
        }
    }
}

extension InterleavedTypesTests {
    /// A file as `hayai quantize IN OUT --type q4_k_m` writes it (Q4_K with Q6_K attn_v, ffn_down and
    /// output; a Llama-style folder with grouped-query attention and rows of 256 and 512 elements, so no
    /// tensor falls back to a 32-element type) gives the row layout's logits on the interleaved fast
    /// path, for a 21-token prompt (the kernels' 8 + 8 + 4 + 1 token splits) and token by token.
    func testAQ4_K_MFileFromQuantizeGivesTheRowLayoutsLogits() throws {
        try checkFileFromQuantize(.q4_k_m, upType: .q4_K)
    }

    /// The same for `--type q2_k` (Q2_K with Q3_K attn_v, attn_output and ffn_down, Q6_K output): a
    /// file with Q2_K tensors loads and runs on the fast path.
    func testAQ2_KFileFromQuantizeGivesTheRowLayoutsLogits() throws {
        try checkFileFromQuantize(.q2_k, upType: .q2_K)
    }

    /// `--type q3_k_m`: the rows are whole 256-element super-blocks, so attn_q/k and ffn_gate/up stay
    /// Q3_K (as in llama.cpp's Q3_K_S/M/L and Q2_K files); attn_v is Q5_K in the first two layers and
    /// ffn_down Q4_K after the first sixteenth.
    func testAQ3_K_MFileFromQuantizeGivesTheRowLayoutsLogits() throws {
        try checkFileFromQuantize(.q3_k_m, upType: .q3_K, types: [
            "blk.0.attn_q.weight": .q3_K, "blk.1.attn_k.weight": .q3_K, "blk.0.ffn_gate.weight": .q3_K,
            "blk.1.attn_v.weight": .q5_K, "blk.1.ffn_down.weight": .q4_K,
        ])
    }

    /// `--type iq4_xs`: IQ4_XS tensors from a file (two layers: no first eighth whose ffn_down gets Q5_K;
    /// two query heads per KV head: attn_v stays IQ4_XS).
    func testAnIQ4_XSFileFromQuantizeGivesTheRowLayoutsLogits() throws {
        try checkFileFromQuantize(.iq4_xs, upType: .iq4_xs, types: [
            "blk.0.ffn_down.weight": .iq4_xs, "blk.1.attn_q.weight": .iq4_xs, "blk.1.attn_v.weight": .iq4_xs,
        ])
    }

    /// `types`: more tensors whose type the file must have.
    private func checkFileFromQuantize(_ target: QuantizeTarget, upType: GGMLType, types: [String: GGMLType] = [:]) throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-kquant-\(UUID().uuidString)")
        let folder = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = 320, hidden = 256, inter = 512, layers = 2, heads = 4, kvHeads = 2, kvDim = kvHeads * hidden / heads
        let config: [String: Any] = [
            "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
            "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
            "tie_word_embeddings": false,
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
        var rng = SeededRandom(seed: 5)
        var writer = SafetensorsWriter(path: folder.appendingPathComponent("model.safetensors").path)
        func add(_ name: String, _ shape: [Int], around base: Float = 0, scale: Float = 0.08) throws {
            try writer.add(name, shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in base + Float.random(in: -scale...scale, using: &rng) })
        }
        try add("model.embed_tokens.weight", [vocab, hidden], scale: 1)
        try add("model.norm.weight", [hidden], around: 1)
        try add("lm_head.weight", [vocab, hidden])
        for l in 0..<layers {
            let p = "model.layers.\(l)."
            try add(p + "input_layernorm.weight", [hidden], around: 1)
            try add(p + "post_attention_layernorm.weight", [hidden], around: 1)
            try add(p + "self_attn.q_proj.weight", [hidden, hidden])
            try add(p + "self_attn.k_proj.weight", [kvDim, hidden])
            try add(p + "self_attn.v_proj.weight", [kvDim, hidden])
            try add(p + "self_attn.o_proj.weight", [hidden, hidden])
            try add(p + "mlp.gate_proj.weight", [inter, hidden])
            try add(p + "mlp.up_proj.weight", [inter, hidden])
            try add(p + "mlp.down_proj.weight", [hidden, inter])
        }
        try writer.write()
        let out = dir.appendingPathComponent("\(target).gguf").path
        try GGUFExport.quantize(input: folder.path, output: out, target: target)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(file.tensorInfos["blk.0.ffn_up.weight"]?.type, upType)
        for (name, type) in types { XCTAssertEqual(file.tensorInfos[name]?.type, type, name) }
        XCTAssertEqual(file.tensorInfos["output.weight"]?.type, .q6_K)

        let fast = try Model.load(path: out), rows = try Model.load(path: out, interleave: false)
        XCTAssertTrue(fast.weights.layers[0].mlp.up.weight.isInterleaved)
        XCTAssertTrue(fast.weights.output.isInterleaved)
        XCTAssertFalse(rows.weights.layers[0].mlp.up.weight.isInterleaved)
        let ids = (0..<21).map { ($0 * 37 + 5) % vocab }
        let exact = try InferenceSession(model: Model.load(path: folder.path)).forward(ids, logits: .all)
        try assertFastPathGivesTheRowLayoutsLogits(fast: fast, rows: rows, exact: exact, ids: ids, vocab: vocab, "\(target) file")
    }

    /// The interleaved model's logits against the row layout's, for `ids` as one prompt and token by token,
    /// held to a tenth of the format's own error (the row layout against `exact`, the unquantized logits).
    func assertFastPathGivesTheRowLayoutsLogits(fast: Model, rows: Model, exact: [Float], ids: [Int], vocab: Int, _ label: String,
                                                file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try InferenceSession(model: rows).forward(ids, logits: .all)
        let got = try InferenceSession(model: fast).forward(ids, logits: .all)
        let session = InferenceSession(model: fast)
        var last: [Float] = []
        for id in ids { last = Array(try session.step(id)) }
        let formatError = maxAbsDiff(expected[...], exact[...])
        let prompt = maxAbsDiff(got[...], expected[...]), decode = maxAbsDiff(last[...], expected[((ids.count - 1) * vocab)...])
        print("\(label): interleaved vs rows, prompt \(prompt), decode \(decode); rows vs unquantized \(formatError)")
        XCTAssertGreaterThan(formatError, 0.01, "\(label): the format's error is measurable", file: file, line: line)
        XCTAssertLessThan(prompt, 0.1 * formatError, "\(label) prompt", file: file, line: line)
        XCTAssertLessThan(decode, 0.1 * formatError, "\(label) decode", file: file, line: line)
    }
}

extension InterleavedTypesTests {
    /// IQ4_NL and IQ4_XS models laid out as `hayai quantize --type iq4_nl / iq4_xs` writes them (with
    /// four query heads per KV head attn_v is Q5_K; the output is Q6_K) give the row layout's logits on
    /// the interleaved fast path, for a 21-token prompt (the kernels' 8 + 8 + 4 + 1 token splits) and
    /// token by token.
    func testIQ4ModelsGiveTheRowLayoutsLogits() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        var config = self.config
        config.numKVHeads = 1
        let vocab = config.vocabSize
        let ids = (0..<21).map { ($0 * 37 + 5) % vocab }
        let exact = try InferenceSession(model: Model.synthetic(config: config, target: .f32, seed: 3)).forward(ids, logits: .all)
        func type(_ m: WeightMatrix) -> GGMLType? {
            if case .quantized(let q, _) = m { return q.type }
            return nil
        }
        for (target, base) in [(QuantizeTarget.iq4_nl, GGMLType.iq4_nl), (.iq4_xs, .iq4_xs)] {
            let fast = try Model.synthetic(config: config, target: target, seed: 3)
            let rows = try Model.synthetic(config: config, target: target, seed: 3, interleave: false)
            XCTAssertEqual(type(fast.weights.layers[1].mlp.up.weight), base, "\(target)")
            XCTAssertEqual(type(fast.weights.layers[1].down.weight), base, "\(target)")
            if case .matrix(let v)? = fast.weights.weight(.v, 1) { XCTAssertEqual(type(v), .q5_K, "\(target)") } else { XCTFail("attn_v") }
            XCTAssertEqual(type(fast.weights.output), .q6_K, "\(target)")
            for layer in fast.weights.layers { for (role, l) in layer.linears { XCTAssertTrue(l.weight.isInterleaved, "\(target) \(role)") } }
            XCTAssertFalse(rows.weights.layers[1].mlp.up.weight.isInterleaved)
            try assertFastPathGivesTheRowLayoutsLogits(fast: fast, rows: rows, exact: exact, ids: ids, vocab: vocab, "\(target)")
        }
    }
}

/// `Model.synthetic` builds every weight the DecoderPlan lists, so any variant of the family runs
/// (fused GPT-NeoX qkv with biases, per-head q/k norms, StableLM's shared-norm parallel block, tied heads).
final class SyntheticModelTests: XCTestCase {
    func testSyntheticModelsHaveEveryPlannedWeightForEveryVariant() throws {
        let base = ModelConfig(
            architecture: .stablelm, vocabSize: 96, hiddenSize: 64, intermediateSize: 96, numLayers: 2, numHeads: 4, numKVHeads: 2,
            maxPositions: 32, norm: .layerNorm, normEps: 1e-5, rotaryDim: 8, ropeTheta: 10000, parallelResidual: true, qkvBias: true,
            outputBias: false, mlpBias: false, qkNorm: true, mlp: .gatedSiLU, tieWordEmbeddings: true)
        var neox = base
        neox.architecture = .gptNeoX; neox.numKVHeads = 4; neox.qkNorm = false; neox.mlp = .gelu; neox.fusedQKV = .perHead
        neox.outputBias = true; neox.mlpBias = true; neox.tieWordEmbeddings = false
        var llama = base
        llama.architecture = .llama; llama.norm = .rmsNorm; llama.qkNorm = false; llama.qkvBias = false; llama.parallelResidual = false
        for config in [base, neox, llama] {
            let model = try Model.synthetic(config: config, target: .q8_0, seed: 7)
            for w in DecoderPlan(config: config).weights {
                let loaded = try XCTUnwrap(model.weights.weight(w.role, w.layer), "\(config.architecture) \(w.role) layer \(w.layer ?? -1)")
                switch loaded {
                case .matrix(let m): XCTAssertEqual([m.rows, m.cols], w.shape, "\(w.role)")
                case .vector(let v): XCTAssertEqual(v.shape, w.shape, "\(w.role)")
                }
            }
            let logits = try InferenceSession(model: model).forward([1, 2, 3, 4], logits: .all)
            XCTAssertEqual(logits.count, 4 * config.vocabSize)
            XCTAssertTrue(logits.allSatisfy(\.isFinite), "\(config.architecture)")
        }
    }
}
