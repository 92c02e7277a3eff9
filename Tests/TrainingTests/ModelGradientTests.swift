// The whole decoder's backward against finite differences of its loss, for tiny configs that switch
// on every family difference: GQA, partial rotary, qkv bias, per-head q/k norms, sequential and
// parallel residuals, tied embeddings, GELU and gated SiLU MLPs, RMSNorm — with ignored labels.
import Basics
import XCTest
import Foundation
import Checkpoints
@testable import Training

final class ModelGradientTests: XCTestCase {
    /// Checks a few entries of every tensor (the largest analytic one and three at random).
    func checkModel(_ config: ModelConfig, label: String, positions: [Int]? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let batch = 2, seqLen = 7
        let store = try ParameterStore(config: config)
        randomize(store, seed: 99)
        let model = try TrainingModel(parameters: store, batchSize: batch, seqLen: seqLen)
        var rng = SeededRandom(seed: 7)
        let tokens = (0..<batch * seqLen).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        var labels = tokens
        labels[1] = -100; labels[3] = -100; labels[seqLen + 4] = -100
        try model.forward(tokens: tokens, labels: labels, positions: positions)
        XCTAssertEqual(model.targetCount, 2 * (seqLen - 1) - 3)
        store.zeroGradients()
        model.backward()
        let analytic = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        func loss() -> Double {
            try! model.forward(tokens: tokens, labels: labels, positions: positions)
            return model.lossSum / Double(model.targetCount)
        }
        var worst: Float = 0, worstName = ""
        for t in store.tensors {
            var picks = Set((0..<3).map { _ in t.offset + Int(rng.next() % UInt64(t.count)) })
            picks.insert((t.offset..<t.offset + t.count).max { abs(analytic[$0]) < abs(analytic[$1]) }!)
            var diff: Float = 0, scale: Float = 0
            for i in picks {
                let saved = store.values[i], h: Float = 1e-2
                store.values[i] = saved + h; let up = store.values[i]; let lp = loss()
                store.values[i] = saved - h; let down = store.values[i]; let lm = loss()
                store.values[i] = saved
                let numeric = Float((lp - lm) / (Double(up) - Double(down)))
                diff = max(diff, abs(numeric - analytic[i])); scale = max(scale, abs(numeric))
            }
            let err = diff / max(scale, 1e-3)
            XCTAssertLessThan(err, 1e-2, "\(label) \(t.name): diff \(diff) scale \(scale)", file: file, line: line)
            if err > worst { worst = err; worstName = t.name }
        }
        print("\(label): whole-model finite differences, worst relative error \(worst) (\(worstName))")
    }

    func testStableLMSequentialGQAQKNormBiasMatchesFiniteDifferences() throws {
        try checkModel(TinyConfigs.stablelm(), label: "stablelm sequential")
    }

    func testStableLMParallelTiedMatchesFiniteDifferences() throws {
        try checkModel(TinyConfigs.stablelm(parallel: true, gqa: false, qkvBias: false, qkNorm: false, tied: true, rotaryDim: 6),
                       label: "stablelm parallel tied")
    }

    func testGPTNeoXMatchesFiniteDifferences() throws {
        try checkModel(TinyConfigs.gptNeoX(), label: "gpt_neox")
        try checkModel(TinyConfigs.gptNeoX(tanh: true), label: "gpt_neox gelu_new")
    }

    func testPackedDocumentsMatchFiniteDifferences() throws {
        // Row 0 holds documents of 3 and 4 tokens, row 1 of 2, 2 and 3: block-diagonal attention, restarted RoPE.
        try checkModel(TinyConfigs.stablelm(), label: "stablelm packed", positions: [0, 1, 2, 0, 1, 2, 3, 0, 1, 0, 1, 0, 1, 2])
    }

    func testRMSNormLlamaMatchesFiniteDifferences() throws {
        try checkModel(TinyConfigs.llama(), label: "llama")
    }
}
