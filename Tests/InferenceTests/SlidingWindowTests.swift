// Mistral's sliding-window attention: a tiny random `mistral` checkpoint (window 5, a 12-token prompt)
// gives the logits of a plain reference forward written here from the formulas, in the batched
// prompt pass and token by token; without the window the logits differ, so the test sees the mask.
import XCTest
import Checkpoints
import Inference
import TestSupport

final class SlidingWindowTests: XCTestCase {
    struct Tiny {
        let vocab = 61, hidden = 32, heads = 4, kvHeads = 2, layers = 2, inter = 48
        var headDim: Int { hidden / heads }
        var tensors: [String: (shape: [Int], values: [Float])] = [:]

        init(seed: UInt64) {
            var state = seed
            func random() -> Float {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000 * 0.3
            }
            func add(_ name: String, _ shape: [Int], around base: Float = 0) {
                tensors[name] = (shape, (0..<shape.reduce(1, *)).map { _ in base + random() })
            }
            let kvDim = kvHeads * headDim
            add("model.embed_tokens.weight", [vocab, hidden])
            add("model.norm.weight", [hidden], around: 1)
            add("lm_head.weight", [vocab, hidden])
            for l in 0..<layers {
                let p = "model.layers.\(l)."
                add(p + "input_layernorm.weight", [hidden], around: 1)
                add(p + "post_attention_layernorm.weight", [hidden], around: 1)
                add(p + "self_attn.q_proj.weight", [hidden, hidden])
                add(p + "self_attn.k_proj.weight", [kvDim, hidden])
                add(p + "self_attn.v_proj.weight", [kvDim, hidden])
                add(p + "self_attn.o_proj.weight", [hidden, hidden])
                add(p + "mlp.gate_proj.weight", [inter, hidden])
                add(p + "mlp.up_proj.weight", [inter, hidden])
                add(p + "mlp.down_proj.weight", [hidden, inter])
            }
        }

        func write(to folder: URL, slidingWindow: Int?) throws {
            var config: [String: Any] = [
                "model_type": "mistral", "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
                "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
                "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
                "tie_word_embeddings": false,
            ]
            config["sliding_window"] = slidingWindow ?? NSNull()
            try JSONSerialization.data(withJSONObject: config).write(to: folder.appendingPathComponent("config.json"))
            var writer = SafetensorsWriter(path: folder.appendingPathComponent("model.safetensors").path)
            for (name, t) in tensors { try writer.add(name, shape: t.shape, floats: t.values) }
            try writer.write()
        }

        /// The decoder from its formulas, in Double: RMSNorm, RoPE (rotate-half), grouped-query
        /// attention over keys j with i - window < j <= i, SiLU-gated MLP. tokens -> logits (T, vocab).
        func referenceLogits(_ tokens: [Int], window: Int?) -> [[Double]] {
            func w(_ name: String) -> [Double] { tensors[name]!.values.map(Double.init) }
            func matVec(_ m: [Double], rows: Int, cols: Int, _ x: [Double]) -> [Double] {
                (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + m[r * cols + $1] * x[$1] } }
            }
            func rmsNorm(_ x: [Double], _ g: [Double]) -> [Double] {
                let s = 1 / (x.reduce(0) { $0 + $1 * $1 } / Double(x.count) + 1e-5).squareRoot()
                return zip(x, g).map { $0 * s * $1 }
            }
            func rope(_ v: inout [Double], position: Int, offset: Int) {
                let half = headDim / 2
                for i in 0..<half {
                    let angle = Double(position) / pow(10000, Double(2 * i) / Double(headDim))
                    let a = v[offset + i], b = v[offset + i + half]
                    v[offset + i] = a * cos(angle) - b * sin(angle)
                    v[offset + i + half] = b * cos(angle) + a * sin(angle)
                }
            }
            let embed = w("model.embed_tokens.weight"), d = headDim, kvDim = kvHeads * d
            var h = tokens.map { Array(embed[$0 * hidden..<($0 + 1) * hidden]) }
            for l in 0..<layers {
                let p = "model.layers.\(l)."
                var q: [[Double]] = [], k: [[Double]] = [], v: [[Double]] = []
                for (i, x) in h.enumerated() {
                    let n = rmsNorm(x, w(p + "input_layernorm.weight"))
                    var qi = matVec(w(p + "self_attn.q_proj.weight"), rows: hidden, cols: hidden, n)
                    var ki = matVec(w(p + "self_attn.k_proj.weight"), rows: kvDim, cols: hidden, n)
                    for head in 0..<heads { rope(&qi, position: i, offset: head * d) }
                    for head in 0..<kvHeads { rope(&ki, position: i, offset: head * d) }
                    q.append(qi); k.append(ki)
                    v.append(matVec(w(p + "self_attn.v_proj.weight"), rows: kvDim, cols: hidden, n))
                }
                for i in 0..<h.count {
                    var attended = [Double](repeating: 0, count: hidden)
                    let first = window.map { max(0, i - $0 + 1) } ?? 0
                    for head in 0..<heads {
                        let kvh = head / (heads / kvHeads)
                        let scores = (first...i).map { j in (0..<d).reduce(0.0) { $0 + q[i][head * d + $1] * k[j][kvh * d + $1] } / Double(d).squareRoot() }
                        let top = scores.max()!
                        let e = scores.map { exp($0 - top) }, total = e.reduce(0, +)
                        for (n, j) in (first...i).enumerated() {
                            for c in 0..<d { attended[head * d + c] += e[n] / total * v[j][kvh * d + c] }
                        }
                    }
                    let o = matVec(w(p + "self_attn.o_proj.weight"), rows: hidden, cols: hidden, attended)
                    h[i] = zip(h[i], o).map(+)
                    let n = rmsNorm(h[i], w(p + "post_attention_layernorm.weight"))
                    let gate = matVec(w(p + "mlp.gate_proj.weight"), rows: inter, cols: hidden, n)
                    let up = matVec(w(p + "mlp.up_proj.weight"), rows: inter, cols: hidden, n)
                    let act = zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
                    h[i] = zip(h[i], matVec(w(p + "mlp.down_proj.weight"), rows: hidden, cols: inter, act)).map(+)
                }
            }
            return h.map { matVec(w("lm_head.weight"), rows: vocab, cols: hidden, rmsNorm($0, w("model.norm.weight"))) }
        }
    }

    private func maxDifference(_ logits: [Float], _ reference: [[Double]]) -> Double {
        var worst = 0.0
        for (i, row) in reference.enumerated() {
            for (j, x) in row.enumerated() { worst = max(worst, abs(Double(logits[i * row.count + j]) - x)) }
        }
        return worst
    }

    func testMistralSlidingWindowMatchesTheReferenceInBatchesAndTokenByToken() throws {
        let tiny = Tiny(seed: 13)
        let tokens = [3, 17, 42, 5, 60, 8, 8, 21, 33, 1, 50, 29]
        let folder = Fixtures.temporaryDirectory("hayai-mistral")
        defer { try? FileManager.default.removeItem(at: folder) }
        try tiny.write(to: folder, slidingWindow: 5)
        let model = try Model.load(path: folder.path)
        XCTAssertEqual(model.config.slidingWindow, 5)
        let reference = tiny.referenceLogits(tokens, window: 5)

        let batched = try InferenceSession(model: model, batchSize: 64, threads: 2).forward(tokens, logits: .all)
        XCTAssertLessThan(maxDifference(batched, reference), 1e-4)

        let stepping = InferenceSession(model: model, batchSize: 64, threads: 2)
        var stepped: [Float] = []
        for t in tokens { stepped += Array(try stepping.step(t)) }
        XCTAssertLessThan(maxDifference(stepped, reference), 1e-4)

        // Prompt in two batches: the second starts past the window.
        let split = InferenceSession(model: model, batchSize: 64, threads: 1)
        let head = try split.forward(Array(tokens[..<7]), logits: .all)
        let tail = try split.forward(Array(tokens[7...]), logits: .all)
        XCTAssertLessThan(maxDifference(head + tail, reference), 1e-4)

        // The window changes the answer: full attention is another model here.
        let full = tiny.referenceLogits(tokens, window: nil)
        XCTAssertGreaterThan(maxDifference(batched, full), 1e-3)
    }

    func testWindowAtLeastThePromptAndNullWindowAreFullAttention() throws {
        let tiny = Tiny(seed: 29)
        let tokens = [9, 4, 44, 12, 0, 7, 30]
        let full = tiny.referenceLogits(tokens, window: nil)
        for window in [7, nil] as [Int?] {
            let folder = Fixtures.temporaryDirectory("hayai-mistral")
            defer { try? FileManager.default.removeItem(at: folder) }
            try tiny.write(to: folder, slidingWindow: window)
            let model = try Model.load(path: folder.path)
            XCTAssertEqual(model.config.slidingWindow, window)
            XCTAssertLessThan(maxDifference(try InferenceSession(model: model, threads: 1).forward(tokens, logits: .all), full), 1e-4)
        }
    }

    func testMistralWithoutTheKeyGetsTransformersDefaultWindow() throws {
        let folder = Fixtures.temporaryDirectory("hayai-mistral")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("config.json")
        let base = #""model_type": "mistral", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2"#
        try Data("{\(base)}".utf8).write(to: path)
        XCTAssertEqual(try HFConfig.load(path: path.path).resolve(path: path.path).slidingWindow, 4096)
        try Data("{\(base), \"sliding_window\": 0}".utf8).write(to: path)
        XCTAssertThrowsError(try HFConfig.load(path: path.path).resolve(path: path.path)) { error in
            XCTAssertTrue("\(error)".contains("sliding_window 0"), "\(error)")
        }
        try Data(#"{"model_type": "llama", "vocab_size": 8, "hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "sliding_window": 3}"#.utf8).write(to: path)
        XCTAssertNil(try HFConfig.load(path: path.path).resolve(path: path.path).slidingWindow)  // Llama has no window
    }
}
