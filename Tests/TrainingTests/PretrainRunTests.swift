// The pretraining loop end to end on a tiny model: an interrupted and resumed run equals an
// uninterrupted one, the final checkpoint reads back in Inference with the trainer's own logits,
// validation gives loss and bits per byte, and every metric is reported.
import XCTest
import Foundation
import Checkpoints
import Inference
import Kernels
@testable import Training
import TestSupport

final class PretrainRunTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-pretrain") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func data() throws -> PretrainData {
        try PretrainData.text(PretrainFixture.writeText(PretrainFixture.text(), in: scratch), tokenizerFolder: PretrainFixture.tokenizerFolder)
    }

    /// Runs and returns the train/loss of every step and all metric names seen.
    func train(_ run: PretrainRun) throws -> (outcome: PretrainOutcome, losses: [Int: Double], names: Set<String>) {
        var losses: [Int: Double] = [:], names = Set<String>()
        var events = PretrainEvents()
        events.metrics = { step, _, values in
            if let l = values["train/loss"] { losses[step] = l }
            names.formUnion(values.keys)
        }
        let outcome = try run.run(events: events)
        return (outcome, losses, names)
    }

    func testATimeBudgetRePlansTheLengthWithoutTheRateJumpingBack() throws {
        var config = PretrainFixture.config(steps: 8)
        // Small steps and a few seconds, so the run passes the re-plan at step 50 even on a loaded machine.
        config.steps = 100_000; config.minutes = 0.08; config.evalInterval = 0; config.checkpointInterval = 0
        config.microBatchSize = 1; config.gradAccumulation = 1
        let run = try PretrainRun(config: config, data: try data(), options: PretrainFixture.options(scratch.appendingPathComponent("timed").path))
        var rates: [Int: Double] = [:]
        var events = PretrainEvents()
        events.metrics = { step, _, values in if let lr = values["lr"] { rates[step] = lr } }
        _ = try run.run(events: events)
        let steps = rates.keys.sorted()
        XCTAssertGreaterThan(steps.count, 60, "the run must get well past its first re-plans")
        // After warmup the rate only goes down, through every re-plan (one a step from the third).
        for (a, b) in zip(steps, steps.dropFirst()) where a > config.warmupSteps {
            XCTAssertLessThanOrEqual(rates[b]!, rates[a]! + 1e-12, "lr rose from step \(a) to \(b)")
        }
        // And it reaches the bottom of the schedule by the budget's end, however the pace changed on the way.
        let last = try XCTUnwrap(steps.last)
        XCTAssertLessThan(rates[last]!, config.minLR + 0.25 * (config.lr - config.minLR), "step \(last) ran at lr \(rates[last]!)")
    }

    func testAStoppedAndResumedRunReachesTheSameLossesAsAnUninterruptedOne() throws {
        let data = try data(), config = PretrainFixture.config(steps: 8)
        let straightOut = scratch.appendingPathComponent("straight").path
        let straight = try PretrainRun(config: config, data: data, options: PretrainFixture.options(straightOut))
        let a = try train(straight)
        XCTAssertEqual(a.outcome, .completed(step: 8))

        let splitOut = scratch.appendingPathComponent("split").path
        var first = PretrainFixture.options(splitOut)
        first.stopAfterStep = 4
        let b = try train(PretrainRun(config: config, data: data, options: first))
        XCTAssertEqual(b.outcome, .interrupted(step: 4))
        XCTAssertTrue(FileManager.default.fileExists(atPath: splitOut + "/step-4/trainer_state.json"))

        var second = PretrainFixture.options(splitOut)
        second.resume = true
        let resumed = try PretrainRun(config: config, data: data, options: second)
        XCTAssertEqual(resumed.state.step, 4)
        XCTAssertEqual(resumed.state.microBatchesSeen, 8)
        let c = try train(resumed)
        XCTAssertEqual(c.outcome, .completed(step: 8))
        for step in 1...4 { XCTAssertEqual(b.losses[step]!, a.losses[step]!, accuracy: 1e-6, "step \(step)") }
        for step in 5...8 { XCTAssertEqual(c.losses[step]!, a.losses[step]!, accuracy: 1e-5, "step \(step)") }
        XCTAssertNil(c.losses[4], "the resumed run starts after the checkpoint's step")
        let p = UnsafeBufferPointer(start: straight.parameters.values, count: straight.parameters.count)
        let q = UnsafeBufferPointer(start: resumed.parameters.values, count: resumed.parameters.count)
        XCTAssertLessThan(maxAbs(q, p), 1e-5)
    }

    func testTheFinalCheckpointLoadsInInferenceWithTheTrainersLogits() throws {
        let out = scratch.appendingPathComponent("run").path
        let run = try PretrainRun(config: PretrainFixture.config(steps: 5), data: data(), options: PretrainFixture.options(out))
        let result = try train(run)
        XCTAssertEqual(result.names, ["train/loss", "lr", "grad_norm", "tokens_per_second", "mfu", "val/loss", "val/bpb"])
        let fm = FileManager.default
        for name in ["config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                     "optimizer.safetensors", "trainer_state.json"] {
            XCTAssertTrue(fm.fileExists(atPath: out + "/" + name), name)
            XCTAssertTrue(fm.fileExists(atPath: out + "/step-5/" + name), "step-5/" + name)
        }
        XCTAssertTrue(fm.fileExists(atPath: out + "/step-4"))
        XCTAssertFalse(try fm.contentsOfDirectory(atPath: out).contains { $0.hasPrefix(".") }, "no temporary files left")
        let json = try Fixtures.json(URL(fileURLWithPath: out + "/config.json")) as! [String: Any]
        XCTAssertEqual(json["model_type"] as? String, "stablelm")
        XCTAssertEqual(json["vocab_size"] as? Int, 2000)
        XCTAssertEqual(try PretrainState.load(folder: out).step, 5)
        XCTAssertTrue(try PretrainState.load(folder: out).finished)

        let inference = try Inference.Model.load(path: out)
        XCTAssertNotNil(inference.tokenizer)
        let seqLen = 20
        let ids = run.data.validation.tokens(0..<seqLen)
        let trainingModel = try TrainingModel(parameters: run.parameters, batchSize: 1, seqLen: seqLen)
        try trainingModel.forward(tokens: ids)
        let logits = try InferenceSession(model: inference).forward(ids, logits: .all)
        XCTAssertEqual(logits.count, trainingModel.logits.count)
        XCTAssertLessThan(maxAbs(logits, trainingModel.logits), 1e-4)
    }

    func testValidationGivesLossAndBitsPerByte() throws {
        let run = try PretrainRun(config: PretrainFixture.config(steps: 2), data: data(),
                                  options: PretrainFixture.options(scratch.appendingPathComponent("v").path))
        let eval = try XCTUnwrap(run.evaluate())
        // A fresh model is close to uniform over 2000 tokens.
        XCTAssertEqual(eval.loss, log(2000), accuracy: 0.3)
        XCTAssertGreaterThan(eval.targets, 0)
        // Bytes per token of this text are between 1 and 4, so bpb is loss / ln 2 / that.
        XCTAssertGreaterThan(eval.bitsPerByte, eval.loss / log(2) / 4)
        XCTAssertLessThan(eval.bitsPerByte, eval.loss / log(2))
    }

    func testTrainingLowersTheLoss() throws {
        var config = PretrainFixture.config(steps: 30)
        config.evalInterval = 0; config.checkpointInterval = 0
        let result = try train(PretrainRun(config: config, data: data(), options: PretrainFixture.options(scratch.appendingPathComponent("l").path)))
        XCTAssertLessThan(result.losses[30]!, result.losses[1]! - 1.5)
    }

    func testMinutesPlansTheRunLengthFromTheStepTime() throws {
        var options = PretrainFixture.options(scratch.appendingPathComponent("m").path)
        options.minutes = 0.02     // 1.2 s
        let run = try PretrainRun(config: PretrainFixture.config(), data: data(), options: options)
        let start = Date()
        let result = try train(run)
        XCTAssertEqual(result.outcome, .completed(step: run.state.step))
        XCTAssertEqual(run.state.plannedSteps, run.state.step)
        XCTAssertLessThan(Date().timeIntervalSince(start), 30)
    }

    func testModelFLOPsFollowNanoGPT() throws {
        let c = PretrainFixture.config().modelConfig(vocabSize: 2000, bosTokenID: 0, eosTokenIDs: [0])
        // untied: the input embedding is a lookup; 12·L·H·Q·T for attention.
        let n = c.parameterCount - 2000 * 32
        XCTAssertEqual(ModelFLOPs.perToken(c, contextLength: 32), Double(6 * n + 12 * 2 * 4 * 8 * 32))
    }
}

/// `precision: bf16` runs every training matmul in bf16 (a different loss curve from f32's, so it is applied) that
/// tracks f32's closely, is recorded in the run's config, and leaves BLAS in f32 afterwards.
final class PretrainPrecisionTests: XCTestCase {
    func testABF16RunsLossCurveTracksF32() throws {
        try XCTSkipUnless(GEMM.isAvailable(.bf16), "this CPU has no AVX512-BF16")
        let scratch = Fixtures.temporaryDirectory("hayai-precision")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let data = try PretrainData.text(PretrainFixture.writeText(PretrainFixture.text(), in: scratch), tokenizerFolder: PretrainFixture.tokenizerFolder)
        var curves: [GEMMPrecision: [Double]] = [:]
        for precision in GEMMPrecision.allCases {
            var config = PretrainFixture.config(steps: 24)
            config.hiddenSize = 64; config.intermediateSize = 96
            config.evalInterval = 0; config.checkpointInterval = 0
            var options = PretrainFixture.options(scratch.appendingPathComponent(precision.rawValue).path)
            options.precision = precision
            let run = try PretrainRun(config: config, data: data, options: options)
            XCTAssertEqual(run.config.precision, precision)
            var losses: [Double] = []
            var events = PretrainEvents()
            events.metrics = { _, _, values in if let l = values["train/loss"] { losses.append(l) } }
            _ = try run.run(events: events)
            XCTAssertEqual(BLAS.precision, .f32, "the run restores BLAS's precision")
            curves[precision] = losses
        }
        let f32 = try XCTUnwrap(curves[.f32]), bf16 = try XCTUnwrap(curves[.bf16])
        XCTAssertEqual(f32.count, 24)
        XCTAssertEqual(bf16.count, 24)
        XCTAssertNotEqual(f32, bf16, "bf16 changed nothing: the precision did not reach the matmuls")
        XCTAssertLessThan(f32.last!, f32.first! - 1, "f32 did not learn")
        // Step losses of so small a model jump (f32 4.65 → 4.22 → 3.88 at steps 10–12, bf16 4.69 → 4.53 → 3.85), so
        // the curves are compared by the mean of each 4 steps (steps 9–12: 4.43 vs 4.35, 1.9% apart).
        for window in stride(from: 0, to: 24, by: 4) {
            let a = f32[window..<window + 4].reduce(0, +) / 4, b = bf16[window..<window + 4].reduce(0, +) / 4
            XCTAssertEqual(b, a, accuracy: 0.05 * a, "steps \(window + 1)–\(window + 4): bf16 \(b) vs f32 \(a)")
        }
    }

    func testAnUnknownPrecisionInAConfigFileIsOneLineNamingTheFile() throws {
        let path = "/tmp/hayai-precision-config.json"
        assertOneLineError(path, "precision", of: PretrainError.self) {
            try PretrainConfig.parse(Data(#"{"preset": "tiny", "precision": "fp8"}"#.utf8), path: path)
        }
        XCTAssertEqual(try PretrainConfig.parse(Data(#"{"precision": "bf16"}"#.utf8), path: path).precision, .bf16)
        assertOneLineError("--precision", "unknown --precision 'fp8' (use f32 or bf16)", of: GEMMPrecision.UnknownPrecision.self) {
            try GEMMPrecision(parsing: "fp8")
        }
    }
}
