// Wrong inputs give one-line errors that say what is wrong, never a crash.
import XCTest
import Foundation
import Checkpoints
@testable import Training
import TestSupport

final class BadInputTests: XCTestCase {
    func testLoadingACheckpointOfAnotherShapeNamesTheTensor() throws {
        let gqa = try HFConfig.load(path: Fixtures.fixture("stablelm-tiny-gqa-bias-parallel/config.json").path).resolve(path: "gqa")
        let store = try ParameterStore(config: gqa)
        XCTAssertThrowsError(try store.load(folder: Fixtures.fixture("stablelm-tiny").path)) { error in
            let line = "\(error)"
            XCTAssertFalse(line.contains("\n"))
            XCTAssertTrue(line.contains("model.layers.0"), line)
        }
        XCTAssertThrowsError(try ParameterStore.load(folder: "/nonexistent-hayai-model"))
    }

    func testBatchesOfTheWrongShapeOrVocabularyAreRejected() throws {
        let store = try ParameterStore(config: TinyConfigs.gptNeoX())
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 4)
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3]))
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3, 4, 5, 6, 7, 37]))
        XCTAssertThrowsError(try model.forward(tokens: Array(repeating: 1, count: 8), labels: [1, 2]))
        XCTAssertThrowsError(try model.forward(tokens: Array(repeating: 1, count: 8), labels: [1, 2, 3, 99, 5, 6, 7, 8]))
        XCTAssertNoThrow(try model.forward(tokens: Array(repeating: 1, count: 8), labels: [-100, -100, 3, -100, 5, 6, -100, 8]))
        XCTAssertEqual(model.targetCount, 3)   // label position 0 of each sequence is never a target
        XCTAssertThrowsError(try TrainingModel(parameters: store, batchSize: 1, seqLen: 65)) { error in
            XCTAssertTrue("\(error)".contains("max_position_embeddings"))
        }
    }

    func testAllLabelsIgnoredGivesZeroLossAndZeroGradients() throws {
        let store = try ParameterStore(config: TinyConfigs.stablelm())
        store.initialize(seed: 1)
        let model = try TrainingModel(parameters: store, batchSize: 1, seqLen: 5)
        XCTAssertEqual(try model.forward(tokens: [1, 2, 3, 4, 5], labels: [Int](repeating: -100, count: 5)), 0)
        store.zeroGradients()
        model.backward()
        XCTAssertEqual(GradientClipping.globalNorm(store), 0)
    }
}
