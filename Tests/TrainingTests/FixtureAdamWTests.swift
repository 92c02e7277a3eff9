// AdamW against torch.optim.AdamW on the gradient fixtures: one step from the fixture's own
// gradients (optimizer only), then end to end from hayai's gradients for steps 1 and 2, the
// optimizer state after step 1, and the state surviving a save and load.
import XCTest
import Foundation
import Checkpoints
@testable import Training
import TestSupport

final class FixtureAdamWTests: XCTestCase {
    func optimizer(_ store: ParameterStore) -> AdamW { AdamW(parameters: store, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1) }

    /// Fed the fixture's gradients, one step lands within 2e-7 of torch's parameters and state.
    func checkOptimizerOnly(_ name: String) throws {
        let fixture = try GradientFixture(name)
        let store = try ParameterStore.load(folder: fixture.modelFolder.path)
        let grads = try fixture.file("grads.safetensors")
        for t in store.tensors {
            let g = try grads.floats(t.name)
            g.withUnsafeBufferPointer { (store.gradients + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
        let adam = optimizer(store)
        adam.step(lr: 1e-3)
        let stepped = try fixture.file("adamw_step.safetensors"), state = try fixture.file("adamw_state.safetensors")
        var worst: Float = 0
        for t in store.tensors {
            let d = maxAbs(store.values(t.name)!, try stepped.floats(t.name))
            XCTAssertLessThan(d, 2e-7, "\(name) \(t.name)")
            worst = max(worst, d)
            let m = UnsafeBufferPointer(start: adam.expAvg + t.offset, count: t.count)
            let v = UnsafeBufferPointer(start: adam.expAvgSq + t.offset, count: t.count)
            XCTAssertLessThan(relativeError(m, try state.floats(t.name + ".exp_avg")), 1e-6, "\(name) \(t.name).exp_avg")
            XCTAssertLessThan(relativeError(v, try state.floats(t.name + ".exp_avg_sq")), 1e-6, "\(name) \(t.name).exp_avg_sq")
        }
        print("\(name): AdamW from the fixture's gradients, max |Δp| vs torch \(worst)")
    }

    func testAdamWStepFromFixtureGradientsMatchesTorchStableLM() throws { try checkOptimizerOnly(GradientFixture.stablelm) }
    func testAdamWStepFromFixtureGradientsMatchesTorchGPTNeoX() throws { try checkOptimizerOnly(GradientFixture.gptNeoX) }

    /// Own gradients → AdamW, two steps. Entries whose step-1 gradient is ≥ 1e-6 in magnitude must be
    /// within `tight`; the rest (gradient noise that AdamW blows up to ±lr) within 2·lr per step.
    func checkEndToEnd(_ name: String) throws {
        let fixture = try GradientFixture(name)
        let store = try ParameterStore.load(folder: fixture.modelFolder.path)
        let model = try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
        let adam = optimizer(store)
        let trainer = Trainer(model: model, optimizer: adam, schedule: .constant(1e-3), maxGradientNorm: nil)
        let goldenGrads = try fixture.file("grads.safetensors")
        let batch = [MicroBatch(tokens: fixture.inputIDs, labels: fixture.labels)]

        let first = try trainer.step(batch)
        XCTAssertEqual(first.loss, fixture.loss, accuracy: 1e-5)
        try compare(store, with: fixture.file("adamw_step.safetensors"), grads: goldenGrads, steps: 1, label: "\(name) step 1")
        let state = try fixture.file("adamw_state.safetensors")
        var worstState: Float = 0
        for t in store.tensors {
            let m = UnsafeBufferPointer(start: adam.expAvg + t.offset, count: t.count)
            let e = relativeError(m, try state.floats(t.name + ".exp_avg"))
            XCTAssertLessThan(e, 1e-4, "\(name) \(t.name).exp_avg")
            let v = UnsafeBufferPointer(start: adam.expAvgSq + t.offset, count: t.count)
            let ev = relativeError(v, try state.floats(t.name + ".exp_avg_sq"))
            XCTAssertLessThan(ev, 1e-4, "\(name) \(t.name).exp_avg_sq")
            worstState = max(worstState, e, ev)
        }
        print("\(name) state after step 1: max relative error \(worstState)")

        let second = try trainer.step(batch)
        // README: the loss on the batch after step 1 (torch).
        let lossAfterStep1: Float = name == GradientFixture.stablelm ? 6.869461060 : 7.439820766
        XCTAssertEqual(second.loss, lossAfterStep1, accuracy: 1e-5, "\(name) loss after step 1")
        try compare(store, with: fixture.file("adamw_step2.safetensors"), grads: goldenGrads, steps: 2, label: "\(name) step 2")
    }

    func compare(_ store: ParameterStore, with golden: SafetensorsFile, grads: SafetensorsFile, steps: Int, label: String) throws {
        var worstTight: Float = 0, worstLoose: Float = 0
        for t in store.tensors {
            let expected = try golden.floats(t.name), g = try grads.floats(t.name)
            let got = store.values(t.name)!
            for i in 0..<t.count {
                let d = abs(got[i] - expected[i])
                if abs(g[i]) >= 1e-6 { worstTight = max(worstTight, d) } else { worstLoose = max(worstLoose, d) }
            }
        }
        XCTAssertLessThan(worstTight, 1e-6, "\(label): entries with |g| ≥ 1e-6")
        XCTAssertLessThan(worstLoose, 2e-3 * Float(steps), "\(label): entries with |g| < 1e-6")
        print("\(label): max |Δp| vs torch \(worstTight) where |g| ≥ 1e-6, \(worstLoose) elsewhere")
    }

    func testTwoAdamWStepsFromOwnGradientsMatchTorchStableLM() throws { try checkEndToEnd(GradientFixture.stablelm) }
    func testTwoAdamWStepsFromOwnGradientsMatchTorchGPTNeoX() throws { try checkEndToEnd(GradientFixture.gptNeoX) }

    /// Saving after step 1 and loading into a fresh optimizer gives the same step 2 as never stopping.
    func testOptimizerStateSurvivesSaveAndLoad() throws {
        let fixture = try GradientFixture(GradientFixture.stablelm)
        let batch = [MicroBatch(tokens: fixture.inputIDs, labels: fixture.labels)]
        func run(resumeThrough path: String?) throws -> [Float] {
            let store = try ParameterStore.load(folder: fixture.modelFolder.path)
            let model = try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
            var trainer = Trainer(model: model, optimizer: optimizer(store), schedule: .constant(1e-3), maxGradientNorm: 1)
            try trainer.step(batch)
            if let path {
                try trainer.optimizer.save(path: path)
                let resumed = optimizer(store)
                try resumed.load(path: path)
                XCTAssertEqual(resumed.step, 1)
                trainer = Trainer(model: model, optimizer: resumed, schedule: .constant(1e-3), maxGradientNorm: 1)
            }
            try trainer.step(batch)
            return Array(UnsafeBufferPointer(start: store.values, count: store.count))
        }
        let dir = Fixtures.temporaryDirectory("hayai-adamw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("optimizer.safetensors").path
        XCTAssertEqual(try run(resumeThrough: nil), try run(resumeThrough: path))
        // Names follow torch's state: <tensor>.exp_avg / .exp_avg_sq, the same as the fixture's file.
        let saved = try SafetensorsFile(path: path)
        let reference = try GradientFixture(GradientFixture.stablelm).file("adamw_state.safetensors")
        XCTAssertEqual(Set(saved.tensorInfos.keys), Set(reference.tensorInfos.keys))
        XCTAssertThrowsError(try AdamW(parameters: ParameterStore(config: TinyConfigs.gptNeoX())).load(path: path))
    }
}
