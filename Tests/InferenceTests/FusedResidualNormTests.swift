// DecoderForward.layers adds each layer's last residual into the stream and applies the next layer's
// first norm in one pass (and the attention residual with the MLP's norm): the stream and every norm's
// output must be bit for bit what the add and then the norm give apart (layers run one by one), for each
// residual wiring and norm kind, on one and on two threads; and a session's logits must not depend on
// its thread count.
import XCTest
import Checkpoints
import Kernels
@testable import Inference

final class FusedResidualNormTests: XCTestCase {
    private func config(_ architecture: Architecture, norm: NormKind, parallel: Bool, mlp: MLPKind) -> ModelConfig {
        ModelConfig(architecture: architecture, vocabSize: 320, hiddenSize: 128, intermediateSize: 256, numLayers: 3, numHeads: 4,
                    numKVHeads: 2, maxPositions: 256, norm: norm, normEps: 1e-5, rotaryDim: 32, ropeTheta: 10000,
                    parallelResidual: parallel, qkvBias: false, outputBias: false, mlpBias: false, qkNorm: false, mlp: mlp,
                    tieWordEmbeddings: false)
    }

    /// The residual stream after every layer and the last layer's norm outputs, through `run`.
    private func forward(_ model: Model, rows n: Int, pool: ThreadPool?,
                         _ run: (DecoderForward, LayerActivations, AttentionCore) -> Void) -> [Float] {
        let c = model.config, hidden = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKVHeads * c.headDim
        var buffers: [UnsafeMutablePointer<Float>] = []
        func alloc(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            buffers.append(p)
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        let x = alloc(n * hidden), h = alloc(n * hidden), h2 = alloc(n * hidden), q = alloc(n * qDim), k = alloc(n * kvDim)
        let v = alloc(n * kvDim), up = alloc(n * c.intermediateSize)
        let a = LayerActivations(input: x, output: x, mid: x, ln1: h, ln2: h2, qkv: alloc(0), qProj: q, kProj: k, q: q, k: k, v: v,
                                 heads: alloc(n * qDim), attnOut: alloc(n * hidden), mlpOut: alloc(n * hidden),
                                 gate: alloc(n * c.intermediateSize), up: up, act: up)
        let saved = alloc(CausalAttention.savedFloats(batch: 1, seqLen: n, heads: c.numHeads, headDim: c.headDim))
        let scratch = alloc(CausalAttention.scratchFloats(seqLen: n, headDim: c.headDim, threads: pool?.threads ?? 1))
        for r in 0..<n { model.weights.embedding.copyRow((r * 37 + 5) % c.vocabSize, into: x + r * hidden) }
        let rope = Ops.ropeTables(positions: n, inverseFrequencies: c.ropeInverseFrequencies)
        return rope.cos.withUnsafeBufferPointer { cos in
            rope.sin.withUnsafeBufferPointer { sin in
                let decoder = DecoderForward(plan: model.plan, ropeCos: cos.baseAddress!, ropeSin: sin.baseAddress!, pool: pool)
                run(decoder, a, .causal(batch: 1, seqLen: n, positions: nil, saved: saved, scratch: scratch, pool: pool))
                return [x, h, h2].flatMap { (p: UnsafeMutablePointer<Float>) in Array(UnsafeBufferPointer(start: p, count: n * hidden)) }
            }
        }
    }

    func testFusedResidualAddAndNormEqualTheAddThenTheNormBitForBit() throws {
        let configs = [
            ("sequential RMSNorm", config(.llama, norm: .rmsNorm, parallel: false, mlp: .gatedSiLU)),
            ("parallel LayerNorm", config(.gptNeoX, norm: .layerNorm, parallel: true, mlp: .gelu)),
            ("parallel shared LayerNorm", config(.stablelm, norm: .layerNorm, parallel: true, mlp: .gatedSiLU)),
            ("sequential LayerNorm", config(.stablelm, norm: .layerNorm, parallel: false, mlp: .gatedSiLU)),
        ]
        for (name, c) in configs {
            let model = try Model.synthetic(config: c, target: .q8_0, seed: 3)
            for threads in [1, 2] {
                // 77 rows: pieces of 32 rows on two threads leave a short last one.
                let pool = threads > 1 ? ThreadPool(threads: threads) : nil
                let fused = forward(model, rows: 77, pool: pool) { decoder, a, core in
                    decoder.layers(model.weights, rows: 77, activations: { _ in a }, attention: { _ in core })
                }
                let apart = forward(model, rows: 77, pool: pool) { decoder, a, core in
                    for l in 0..<c.numLayers { decoder.layer(model.weights.layers[l], a, rows: 77, attention: core) }
                }
                XCTAssertEqual(fused.count, apart.count)
                let differ = fused.indices.first { fused[$0].bitPattern != apart[$0].bitPattern }
                XCTAssertNil(differ, "\(name), \(threads) thread(s): first difference at \(differ ?? -1)")
                XCTAssertFalse(fused.contains { !$0.isFinite }, name)
            }
        }
    }

    func testPromptLogitsDoNotDependOnTheThreadCount() throws {
        let c = config(.llama, norm: .rmsNorm, parallel: false, mlp: .gatedSiLU)
        let model = try Model.synthetic(config: c, target: .q4_1, seed: 9)
        let ids = (0..<150).map { ($0 * 53 + 11) % c.vocabSize }
        let one = try InferenceSession(model: model, threads: 1).forward(ids, logits: .all)
        let two = try InferenceSession(model: model, threads: 2).forward(ids, logits: .all)
        XCTAssertEqual(one.count, 150 * c.vocabSize)
        XCTAssertEqual(one.count, two.count)
        XCTAssertNil(one.indices.first { one[$0].bitPattern != two[$0].bitPattern }, "logits differ between 1 and 2 threads")
    }
}
