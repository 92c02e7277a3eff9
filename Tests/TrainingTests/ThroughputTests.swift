// Training-step throughput, printed not asserted. Runs a StableLM-shaped model of a few million
// parameters only when HAYAI_TRAIN_BENCH is set (meant for `swift test -c release`).
import Basics
import XCTest
import Foundation
import Checkpoints
@testable import Training

final class ThroughputTests: XCTestCase {
    func testPrintTrainingTokensPerSecond() throws {
        guard ProcessInfo.processInfo.environment["HAYAI_TRAIN_BENCH"] != nil else {
            throw XCTSkip("set HAYAI_TRAIN_BENCH=1 (and build with -c release) to measure training throughput")
        }
        let config = ModelConfig(architecture: .stablelm, vocabSize: 8000, hiddenSize: 256, intermediateSize: 704, numLayers: 4,
                                 numHeads: 8, numKVHeads: 8, maxPositions: 512, norm: .layerNorm, normEps: 1e-5,
                                 rotaryDim: 8, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                                 mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        let store = try ParameterStore(config: config)
        store.initialize(seed: 1)
        let batch = 4, seqLen = 256
        let model = try TrainingModel(parameters: store, batchSize: batch, seqLen: seqLen)
        let trainer = Trainer(model: model, optimizer: AdamW(parameters: store), schedule: .constant(1e-3))
        var rng = SeededRandom(seed: 2)
        let tokens = (0..<batch * seqLen).map { _ in Int(rng.next() % 8000) }
        try trainer.step([MicroBatch(tokens: tokens)])   // warm-up
        let steps = 5
        var phases = (forward: 0.0, backward: 0.0, optimizer: 0.0)
        for _ in 0..<steps {
            let t0 = Date()
            try model.forward(tokens: tokens, labels: tokens)
            let t1 = Date()
            store.zeroGradients()
            model.backward()
            let t2 = Date()
            GradientClipping.clip(store, maxNorm: 1)
            trainer.optimizer.step(lr: 1e-3)
            let t3 = Date()
            phases.forward += t1.timeIntervalSince(t0); phases.backward += t2.timeIntervalSince(t1); phases.optimizer += t3.timeIntervalSince(t2)
        }
        let total = phases.forward + phases.backward + phases.optimizer
        print(String(format: "training throughput: %.0f tokens/s (%ld params, B=%ld T=%ld; forward %.1f ms, backward %.1f ms, clip+AdamW %.1f ms per step)",
                     Double(steps * batch * seqLen) / total, store.count, batch, seqLen,
                     phases.forward / Double(steps) * 1000, phases.backward / Double(steps) * 1000, phases.optimizer / Double(steps) * 1000))
    }
}
