// The training forward and backward against PyTorch's on the two gradient fixtures (stablelm-tiny,
// gptneox-tiny): the loss, every parameter's gradient (unmasked and SFT-masked labels), and the
// logits against hayai's own inference forward.
import XCTest
import Foundation
import Checkpoints
import Inference
@testable import Training
import TestSupport

final class FixtureGradientTests: XCTestCase {
    func model(for fixture: GradientFixture) throws -> TrainingModel {
        let store = try ParameterStore.load(folder: fixture.modelFolder.path)
        return try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
    }

    /// Every gradient within 1e-4 relative (max|a − b| / max|b| per tensor); returns the largest.
    func checkGradients(_ fixture: GradientFixture, masked: Bool) throws -> Float {
        let m = try model(for: fixture)
        let loss = try m.forward(tokens: fixture.inputIDs, labels: masked ? fixture.labelsMasked : fixture.labels)
        XCTAssertEqual(m.targetCount, masked ? 28 : 46)
        XCTAssertEqual(loss, masked ? fixture.lossMasked : fixture.loss, accuracy: 1e-5, "\(fixture.name) loss")
        m.parameters.zeroGradients()
        m.backward()
        let golden = try fixture.file(masked ? "grads_masked.safetensors" : "grads.safetensors")
        XCTAssertEqual(Set(golden.tensorInfos.keys), Set(m.parameters.tensors.map(\.name)))
        var worst: Float = 0, worstName = ""
        for t in m.parameters.tensors {
            let expected = try golden.floats(t.name)
            let err = relativeError(m.parameters.gradient(t.name)!, expected)
            XCTAssertLessThan(err, 1e-4, "\(fixture.name) \(masked ? "masked " : "")gradient of \(t.name)")
            if err > worst { worst = err; worstName = t.name }
        }
        print("\(fixture.name)\(masked ? " masked" : ""): loss \(loss), max relative gradient error \(worst) (\(worstName))")
        return worst
    }

    func testStableLMGradientsMatchPyTorch() throws {
        _ = try checkGradients(GradientFixture(GradientFixture.stablelm), masked: false)
    }

    func testStableLMMaskedGradientsMatchPyTorch() throws {
        _ = try checkGradients(GradientFixture(GradientFixture.stablelm), masked: true)
    }

    func testGPTNeoXGradientsMatchPyTorch() throws {
        _ = try checkGradients(GradientFixture(GradientFixture.gptNeoX), masked: false)
    }

    func testGPTNeoXMaskedGradientsMatchPyTorch() throws {
        _ = try checkGradients(GradientFixture(GradientFixture.gptNeoX), masked: true)
    }

    /// The training forward computes the same logits as Inference's forward with its KV cache.
    func testTrainingLogitsEqualInferenceLogits() throws {
        let fixture = try GradientFixture(GradientFixture.stablelm)
        for folder in ["stablelm-tiny", "gptneox-tiny", "stablelm-tiny-gqa-bias-parallel"] {
            let path = Fixtures.fixture(folder).path
            let store = try ParameterStore.load(folder: path)
            let m = try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
            try m.forward(tokens: fixture.inputIDs)
            let inference = try Inference.Model.load(path: path)
            let vocab = store.config.vocabSize
            for b in 0..<fixture.batch {
                let ids = Array(fixture.inputIDs[b * fixture.seqLen..<(b + 1) * fixture.seqLen])
                let expected = try InferenceSession(model: inference).forward(ids, logits: .all)
                let got = m.logits[(b * fixture.seqLen * vocab)..<((b + 1) * fixture.seqLen * vocab)]
                let diff = maxAbs(got, expected)
                XCTAssertLessThan(diff, 1e-4, "\(folder) sequence \(b)")
                print("\(folder) sequence \(b): max |training − inference| logits \(diff)")
            }
        }
    }
}

final class SplitLoopsTests: XCTestCase {
    /// Element-wise loops split over two threads give the same loss and gradients as one thread.
    func testSplittingElementwiseLoopsChangesNothing() throws {
        let fixture = try GradientFixture(GradientFixture.gptNeoX)
        func run(split: Bool) throws -> (Float, [Float], [Float]) {
            Parallel.splitElementwiseLoops = split
            Parallel.ignoreMinimumForTesting = split
            defer { Parallel.splitElementwiseLoops = false; Parallel.ignoreMinimumForTesting = false }
            let store = try ParameterStore.load(folder: fixture.modelFolder.path)
            let model = try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
            let adam = AdamW(parameters: store)
            let report = try Trainer(model: model, optimizer: adam, schedule: .constant(1e-3)).step([MicroBatch(tokens: fixture.inputIDs, labels: fixture.labelsMasked)])
            return (report.loss, Array(UnsafeBufferPointer(start: store.gradients, count: store.count)),
                    Array(UnsafeBufferPointer(start: store.values, count: store.count)))
        }
        let serial = try run(split: false), split = try run(split: true)
        XCTAssertEqual(serial.0, split.0, accuracy: 1e-6)
        XCTAssertLessThan(relativeError(split.1, serial.1), 1e-6)
        XCTAssertLessThan(maxAbs(split.2, serial.2), 1e-7)
    }
}
