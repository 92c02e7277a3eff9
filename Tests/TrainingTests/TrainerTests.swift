// The training loop's parts: gradient accumulation equals the full batch, clipping, the learning-rate
// schedule, parameter layout and initialisation, and a real learning run on a tiny model.
import Basics
import XCTest
import Foundation
import Checkpoints
@testable import Training
import TestSupport

final class TrainerTests: XCTestCase {
    func testGradientAccumulationOverTwoMicroBatchesEqualsFullBatch() throws {
        let config = TinyConfigs.stablelm()
        let store = try ParameterStore(config: config)
        randomize(store, seed: 3)
        let seqLen = 9
        var rng = SeededRandom(seed: 11)
        let tokens = (0..<4 * seqLen).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        var labels = tokens
        for t in 0..<6 { labels[t] = -100 }            // first micro-batch has fewer targets than the second
        labels[3 * seqLen + 5] = -100

        let full = try TrainingModel(parameters: store, batchSize: 4, seqLen: seqLen)
        let fullTrainer = Trainer(model: full, optimizer: AdamW(parameters: store), schedule: .constant(1e-3))
        let (fullLoss, fullTargets) = try fullTrainer.accumulateGradients([MicroBatch(tokens: tokens, labels: labels)])
        let fullGrad = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))

        let micro = try TrainingModel(parameters: store, batchSize: 2, seqLen: seqLen)
        let microTrainer = Trainer(model: micro, optimizer: AdamW(parameters: store), schedule: .constant(1e-3))
        let half = 2 * seqLen
        let (loss, targets) = try microTrainer.accumulateGradients([
            MicroBatch(tokens: Array(tokens[..<half]), labels: Array(labels[..<half])),
            MicroBatch(tokens: Array(tokens[half...]), labels: Array(labels[half...])),
        ])
        XCTAssertEqual(targets, fullTargets)
        XCTAssertEqual(targets, 4 * (seqLen - 1) - 5 - 1)
        XCTAssertEqual(loss, fullLoss, accuracy: 1e-6)
        for t in store.tensors {
            let a = UnsafeBufferPointer(start: store.gradients + t.offset, count: t.count)
            XCTAssertLessThan(relativeError(a, fullGrad[t.offset..<t.offset + t.count]), 1e-5, t.name)
        }
    }

    func testClippingScalesToTheGivenNormAndLeavesSmallGradientsAlone() throws {
        let store = try ParameterStore(config: TinyConfigs.gptNeoX())
        for i in 0..<store.count { store.gradients[i] = Float(i % 7) - 3 }
        let before = GradientClipping.globalNorm(store)
        var expected: Double = 0
        for i in 0..<store.count { expected += Double((i % 7) - 3) * Double((i % 7) - 3) }
        XCTAssertEqual(before, Float(expected.squareRoot()), accuracy: before * 1e-6)
        let saved = Array(UnsafeBufferPointer(start: store.gradients, count: store.count))
        XCTAssertEqual(GradientClipping.clip(store, maxNorm: 2 * before), before)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: store.gradients, count: store.count)), saved)
        XCTAssertEqual(GradientClipping.clip(store, maxNorm: 1.5), before)
        XCTAssertEqual(GradientClipping.globalNorm(store), 1.5, accuracy: 1e-5)
        // Direction is kept.
        XCTAssertEqual(store.gradients[5] / store.gradients[1], saved[5] / saved[1], accuracy: 1e-5)
    }

    func testReplanningTheLengthMidDecayKeepsTheRateContinuous() {
        var s = LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 110)
        let before = s(60)
        var jumped = s
        jumped.totalSteps = 300
        XCTAssertGreaterThan(jumped(60) - before, 1e-4, "setting the total alone jumps back up")
        s.replan(totalSteps: 300, at: 60)
        XCTAssertEqual(s(60), before, accuracy: 1e-15)
        var last = before
        for step in 61...300 {
            XCTAssertLessThanOrEqual(s(step), last + 1e-15, "step \(step)")
            XCTAssertLessThan(last - s(step), 1e-5, "no drop either at step \(step)")
            last = s(step)
        }
        XCTAssertEqual(s(300), 1e-4, accuracy: 1e-15)
        // Shorter too, and during warmup only the end moves.
        var shorter = LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 110)
        let at = shorter(60)
        shorter.replan(totalSteps: 80, at: 60)
        XCTAssertEqual(shorter(60), at, accuracy: 1e-15)
        XCTAssertEqual(shorter(80), 1e-4, accuracy: 1e-15)
        var warm = LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 1_000_000)
        warm.replan(totalSteps: 110, at: 3)
        XCTAssertNil(warm.anchor)
        XCTAssertEqual(warm(60), LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 110)(60))
    }

    func testLearningRateScheduleWarmsUpThenDecaysToTheFloor() {
        let s = LearningRateSchedule(maxLR: 1e-3, minLR: 1e-4, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s(0), 1e-4, accuracy: 1e-12)           // warmup start: maxLR / warmupSteps
        XCTAssertEqual(s(4), 5e-4, accuracy: 1e-12)
        XCTAssertEqual(s(9), 1e-3, accuracy: 1e-12)           // warmup end: the peak
        XCTAssertEqual(s(10), 1e-3, accuracy: 1e-12)          // decay starts at the peak
        XCTAssertEqual(s(60), 5.5e-4, accuracy: 1e-12)        // half way: (max + min) / 2
        XCTAssertEqual(s(35), 1e-4 + 0.5 * (1 + cos(Double.pi / 4)) * 9e-4, accuracy: 1e-12)
        XCTAssertEqual(s(110), 1e-4, accuracy: 1e-12)         // the floor
        XCTAssertEqual(s(1000), 1e-4, accuracy: 1e-12)
        XCTAssertEqual(LearningRateSchedule.constant(3e-4)(17), 3e-4)
    }

    func testLayoutUsesTheCheckpointsTensorNames() throws {
        for folder in ["stablelm-tiny", "gptneox-tiny", "stablelm-tiny-gqa-bias-parallel"] {
            let path = Fixtures.fixture(folder).path
            let store = try ParameterStore.load(folder: path)
            let file = try SafetensorsFile(path: path + "/model.safetensors")
            XCTAssertEqual(Set(store.tensors.map(\.name)), Set(file.tensorInfos.keys), folder)
            XCTAssertEqual(store.count, file.tensorInfos.values.reduce(0) { $0 + $1.elementCount }, folder)
            for t in store.tensors { XCTAssertEqual(t.shape, file.tensorInfos[t.name]!.shape, t.name) }
        }
    }

    func testFreshInitialisationIsSeededAndTied() throws {
        let config = TinyConfigs.stablelm(parallel: true, tied: true)
        let a = try ParameterStore(config: config), b = try ParameterStore(config: config)
        a.initialize(seed: 42, scaledResidualInit: true); b.initialize(seed: 42, scaledResidualInit: true)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.values, count: a.count)), Array(UnsafeBufferPointer(start: b.values, count: b.count)))
        XCTAssertNil(a.tensor("lm_head.weight"))
        XCTAssertEqual(a.output, a.embedding)
        let embedding = Array(a.values("model.embed_tokens.weight")!)
        let mean = embedding.reduce(0, +) / Float(embedding.count)
        let std = (embedding.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(embedding.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.003)
        let down = Array(a.values("model.layers.0.mlp.down_proj.weight")!)
        let downStd = (down.reduce(0) { $0 + $1 * $1 } / Float(down.count)).squareRoot()
        XCTAssertEqual(downStd, 0.01, accuracy: 0.002)       // 0.02 / √(2·2 layers)
        XCTAssertEqual(Array(a.values("model.layers.1.input_layernorm.weight")!), [Float](repeating: 1, count: 18))
        XCTAssertEqual(Array(a.values("model.layers.1.self_attn.q_layernorm.norms.2.weight")!), [Float](repeating: 1, count: 6))
        XCTAssertEqual(Array(a.values("model.layers.1.self_attn.q_proj.bias")!), [Float](repeating: 0, count: 18))
    }

    /// A few hundred steps on a repeated 7-token pattern drive the loss far below its start.
    func testTrainingOnARepeatedSequenceDrivesTheLossDown() throws {
        let config = ModelConfig(architecture: .stablelm, vocabSize: 50, hiddenSize: 24, intermediateSize: 40, numLayers: 2,
                                 numHeads: 4, numKVHeads: 2, maxPositions: 64, norm: .layerNorm, normEps: 1e-5,
                                 rotaryDim: 2, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                                 mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        let store = try ParameterStore(config: config)
        store.initialize(seed: 1234)
        let batch = 2, seqLen = 16, steps = 300
        let model = try TrainingModel(parameters: store, batchSize: batch, seqLen: seqLen)
        let trainer = Trainer(model: model, optimizer: AdamW(parameters: store, weightDecay: 0.1),
                              schedule: LearningRateSchedule(maxLR: 3e-3, minLR: 3e-4, warmupSteps: 20, totalSteps: steps),
                              maxGradientNorm: 1.0)
        let pattern = [5, 9, 2, 17, 3, 11, 42]
        let tokens = (0..<batch * seqLen).map { pattern[($0 + 3 * ($0 / seqLen)) % pattern.count] }
        var first: Float = 0, last: Float = 0
        let start = Date()
        for s in 0..<steps {
            let report = try trainer.step([MicroBatch(tokens: tokens)])
            if s == 0 { first = report.loss }
            last = report.loss
            XCTAssertTrue(report.loss.isFinite)
        }
        let seconds = Date().timeIntervalSince(start)
        try model.forward(tokens: tokens, labels: tokens)
        print("learning test: loss \(first) → \(model.loss) after \(steps) steps, \(Int(Double(steps * batch * seqLen) / seconds)) tokens/s (debug-or-release as built)")
        XCTAssertEqual(first, logf(50), accuracy: 0.2)
        XCTAssertLessThan(last, first / 2)
        XCTAssertLessThan(model.loss, first / 4)
    }
}

final class ResumeTests: XCTestCase {
    /// Training 6 steps straight equals 3 steps, a checkpoint with optimizer state, a fresh process-like
    /// reload of both, and 3 more steps (same schedule position, same data order).
    func testResumingFromACheckpointContinuesExactly() throws {
        let config = TinyConfigs.stablelm(vocab: 61)
        var rng = SeededRandom(seed: 4)
        let stream = (0..<400).map { _ in Int(rng.next() % 61) }
        let data = try PretrainingBatches(tokens: stream, batchSize: 2, seqLen: 9, seed: 3)
        let schedule = LearningRateSchedule(maxLR: 1e-2, minLR: 1e-3, warmupSteps: 2, totalSteps: 6)
        func trainer(_ store: ParameterStore) throws -> Trainer {
            Trainer(model: try TrainingModel(parameters: store, batchSize: 2, seqLen: 9), optimizer: AdamW(parameters: store),
                    schedule: schedule, maxGradientNorm: 0.5)
        }
        let straight = try ParameterStore(config: config)
        straight.initialize(seed: 9)
        let a = try trainer(straight)
        for s in 0..<6 { try a.step([data.batch(s)]) }

        let first = try ParameterStore(config: config)
        first.initialize(seed: 9)
        let b = try trainer(first)
        for s in 0..<3 { try b.step([data.batch(s)]) }
        let dir = Fixtures.temporaryDirectory("hayai-resume")
        defer { try? FileManager.default.removeItem(at: dir) }
        var writer = CheckpointWriter(parameters: first)
        writer.optimizer = b.optimizer
        try writer.write(to: dir.appendingPathComponent("step3").path)

        let reloaded = try ParameterStore.load(folder: dir.appendingPathComponent("step3").path)
        let c = try trainer(reloaded)
        try c.optimizer.load(path: dir.appendingPathComponent("step3/\(CheckpointWriter.optimizerFileName)").path)
        XCTAssertEqual(c.optimizer.step, 3)
        for s in 3..<6 { try c.step([data.batch(s)]) }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: reloaded.values, count: reloaded.count)),
                       Array(UnsafeBufferPointer(start: straight.values, count: straight.count)))
    }
}
