// The training step's per-op profile (`train pretrain --profile`): every op a step runs is named and
// timed, the times are non-negative and add up to the step as a clock outside it measures it, and
// recording changes nothing the step computes.
import Basics
import XCTest
import Foundation
import Checkpoints
import Kernels
@testable import Training
import TestSupport

final class StepProfileTests: XCTestCase {
    /// A model where every op has real work: hidden 64, 2 layers, vocabulary 600, B=2, T=48.
    func trainer(profiled: Bool) throws -> (Trainer, [MicroBatch]) {
        let config = ModelConfig(architecture: .stablelm, vocabSize: 600, hiddenSize: 64, intermediateSize: 150, numLayers: 2,
                                 numHeads: 4, numKVHeads: 4, maxPositions: 64, norm: .layerNorm, normEps: 1e-5,
                                 rotaryDim: 8, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                                 mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        let store = try ParameterStore(config: config)
        store.initialize(seed: 5)
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 48)
        if profiled { model.profile = StepProfile() }
        var rng = SeededRandom(seed: 9)
        let batches = (0..<2).map { _ in MicroBatch(tokens: (0..<96).map { _ in Int(rng.next() % 600) }) }
        return (Trainer(model: model, optimizer: AdamW(parameters: store), schedule: .constant(1e-3), maxGradientNorm: 0.5), batches)
    }

    func testEveryOpIsNamedNonNegativeAndTheTimesSumToTheMeasuredStep() throws {
        let (trainer, batches) = try trainer(profiled: true)
        let profile = try XCTUnwrap(trainer.model.profile)
        try trainer.step(batches)   // warm-up
        profile.reset()
        var external: UInt64 = 0
        let steps = 4
        for _ in 0..<steps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try trainer.step(batches)
            external += DispatchTime.now().uptimeNanoseconds - t0
        }
        XCTAssertEqual(profile.steps, steps)
        let entries = profile.entries
        XCTAssertEqual(entries.map(\.op), StepProfile.Op.allCases)
        // Everything this model runs is named and got time (the only op that may stay at zero here: none).
        for e in entries {
            XCTAssertGreaterThan(e.millisecondsPerStep, 0, "\(e.op.name) recorded no time")
            XCTAssertGreaterThanOrEqual(e.share, 0)
            if e.op.isMatmul { XCTAssertNotNil(e.gflops, e.op.name) } else { XCTAssertNil(e.gflops, e.op.name) }
        }
        // The ops add up to the profile's own step time, and that to the time measured around the calls.
        let sum = entries.reduce(0) { $0 + $1.millisecondsPerStep }
        XCTAssertEqual(sum, profile.stepMilliseconds, accuracy: profile.stepMilliseconds * 0.001)
        let measured = Double(external) / Double(steps) / 1e6
        XCTAssertEqual(sum, measured, accuracy: measured * 0.05, "ops \(sum) ms vs measured \(measured) ms a step")
        // The named ops cover the step: what is left to "sync/other" is a small part of it.
        let other = try XCTUnwrap(entries.first { $0.op == .other })
        XCTAssertLessThan(other.share, 0.25, "sync/other took \(other.share * 100)% of the step")
        // FLOPs: the forward products of one step are 2 × every matrix's weights × tokens (2 micro-batches of 96).
        let c = trainer.model.config
        let tokens = 2.0 * 96
        let perLayer = Double(c.hiddenSize) * Double(3 * c.hiddenSize + c.hiddenSize + 3 * c.intermediateSize)
        let forwardFLOPs = 2 * tokens * (Double(c.numLayers) * perLayer + Double(c.vocabSize * c.hiddenSize))
        let recorded = [StepProfile.Op.qkvForward, .oForward, .upGateForward, .downForward, .lmHeadForward]
            .reduce(0.0) { $0 + profile.flops[$1.rawValue] } / Double(steps)
        XCTAssertEqual(recorded, forwardFLOPs, accuracy: forwardFLOPs * 1e-9)
    }

    func testProfilingChangesNothingTheStepComputes() throws {
        let (plain, batches) = try trainer(profiled: false)
        let (profiled, _) = try trainer(profiled: true)
        for _ in 0..<2 {
            let a = try plain.step(batches), b = try profiled.step(batches)
            XCTAssertEqual(a.loss.bitPattern, b.loss.bitPattern)
            XCTAssertEqual(a.gradientNorm.bitPattern, b.gradientNorm.bitPattern)
        }
        let p = plain.model.parameters, q = profiled.model.parameters
        XCTAssertTrue((0..<p.count).allSatisfy { p.values[$0].bitPattern == q.values[$0].bitPattern })
    }

    func testAForwardOutsideAStepIsNotRecorded() throws {
        let (trainer, batches) = try trainer(profiled: true)
        let profile = try XCTUnwrap(trainer.model.profile)
        try trainer.model.forward(tokens: batches[0].tokens, labels: batches[0].tokens)   // as validation runs it
        XCTAssertEqual(profile.steps, 0)
        XCTAssertTrue(profile.nanoseconds.allSatisfy { $0 == 0 })
    }

    /// A pretraining run with the profile on: its data loading (windows sampled from the corpus) is in the step, the first step is left out.
    func testAPretrainRunProfilesTheStepsAfterTheFirst() throws {
        let scratch = Fixtures.temporaryDirectory("hayai-step-profile")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let data = try PretrainData.text(PretrainFixture.writeText(PretrainFixture.text(), in: scratch), tokenizerFolder: PretrainFixture.tokenizerFolder)
        var options = PretrainFixture.options(scratch.appendingPathComponent("out").path)
        options.profile = true
        let run = try PretrainRun(config: PretrainFixture.config(steps: 4), data: data, options: options)
        try run.run()
        let profile = try XCTUnwrap(run.profile)
        XCTAssertEqual(profile.steps, 3)
        XCTAssertGreaterThan(profile.nanoseconds[StepProfile.Op.data.rawValue], 0)
        XCTAssertGreaterThan(profile.nanoseconds[StepProfile.Op.adamW.rawValue], 0)
        let without = try PretrainRun(config: PretrainFixture.config(steps: 1), data: data,
                                      options: PretrainFixture.options(scratch.appendingPathComponent("plain").path))
        XCTAssertNil(without.profile)
        XCTAssertNil(without.model.profile)
    }
}
