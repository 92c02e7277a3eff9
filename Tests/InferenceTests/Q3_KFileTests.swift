// A GGUF holding Q3_K tensors (as llama.cpp's Q3_K_S/M/L and Q2_K files do) loads and runs: here one
// written by `hayai quantize --type q3_k_m` from a Llama-style folder whose rows are whole 256-element
// super-blocks, so its attn_q/k and ffn_gate/up stay Q3_K. The interleaved fast path gives the row
// layout's logits (same integer sums, float sums in another order) for a prompt and token by token.
import XCTest
import Foundation
import Basics
import Checkpoints
import Kernels
import Inference
import TestSupport

final class Q3_KFileTests: XCTestCase {
    func testAQ3_K_MFileLoadsAndTheInterleavedPathGivesTheRowLayoutsLogits() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-q3k-\(UUID().uuidString)")
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
        var rng = SeededRandom(seed: 11)
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
        let out = dir.appendingPathComponent("q3_k_m.gguf").path
        try GGUFExport.quantize(input: folder.path, output: out, target: .q3_k_m)
        let file = try GGUFFile(path: out)
        for name in ["blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.0.ffn_gate.weight", "blk.1.ffn_up.weight"] {
            XCTAssertEqual(file.tensorInfos[name]?.type, .q3_K, name)
        }
        XCTAssertEqual(file.tensorInfos["blk.1.attn_v.weight"]?.type, .q5_K)
        XCTAssertEqual(file.tensorInfos["blk.1.ffn_down.weight"]?.type, .q4_K)

        let rows = try Model.load(path: out, interleave: false)
        let ids = (0..<21).map { ($0 * 37 + 5) % vocab }
        let exact = try InferenceSession(model: Model.load(path: folder.path)).forward(ids, logits: .all)
        let expected = try InferenceSession(model: rows).forward(ids, logits: .all)
        let formatError = maxAbsDiff(expected[...], exact[...])
        XCTAssertGreaterThan(formatError, 0.01, "the format's error is measurable")
        XCTAssertLessThan(formatError, 2, "Q3_K_M logits stay near the unquantized ones")
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        let fast = try Model.load(path: out)
        XCTAssertTrue(fast.weights.layers[0].mlp.up.weight.isInterleaved)
        XCTAssertFalse(rows.weights.layers[0].mlp.up.weight.isInterleaved)
        let got = try InferenceSession(model: fast).forward(ids, logits: .all)
        let session = InferenceSession(model: fast)
        var last: [Float] = []
        for id in ids { last = Array(try session.step(id)) }
        let prompt = maxAbsDiff(got[...], expected[...]), decode = maxAbsDiff(last[...], expected[((ids.count - 1) * vocab)...])
        print("q3_k_m file: interleaved vs rows, prompt \(prompt), decode \(decode); rows vs unquantized \(formatError)")
        XCTAssertLessThan(prompt, 0.1 * formatError, "prompt")
        XCTAssertLessThan(decode, 0.1 * formatError, "decode")
    }
}
