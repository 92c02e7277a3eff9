// Packed examples (several documents in one row, as SFT packs short examples) must not see each
// other: a document's logits are those it has alone, whatever its neighbour holds.
import XCTest
import Checkpoints
@testable import Training

final class PackingTests: XCTestCase {
    func logits(_ model: TrainingModel, _ tokens: [Int], positions: [Int]?) throws -> [Float] {
        try model.forward(tokens: tokens, positions: positions)
        return Array(model.logits)
    }

    func testChangingOneExampleDoesNotChangeTheOther() throws {
        let config = TinyConfigs.stablelm(parallel: false, gqa: true)
        let store = try ParameterStore(config: config)
        randomize(store, seed: 5)
        let model = try TrainingModel(parameters: store, batchSize: 1, seqLen: 9)
        let vocab = config.vocabSize
        let a = [3, 4, 5, 6], b = [7, 8, 9, 10, 11]
        let positions = [0, 1, 2, 3, 0, 1, 2, 3, 4]
        let packed = try logits(model, a + b, positions: positions)
        let changed = try logits(model, [20, 21, 22, 23] + b, positions: positions)
        // b's rows (4..<9) are identical; a's rows differ.
        XCTAssertEqual(Array(packed[(4 * vocab)...]), Array(changed[(4 * vocab)...]))
        XCTAssertNotEqual(Array(packed[..<(4 * vocab)]), Array(changed[..<(4 * vocab)]))
        // And b packed second equals b alone at the start of a row.
        let alone = try TrainingModel(parameters: store, batchSize: 1, seqLen: 5)
        let bAlone = try logits(alone, b, positions: nil)
        XCTAssertLessThan(maxAbs(packed[(4 * vocab)...], bAlone[...]), 1e-5)
    }

    func testUnpackedRowsEqualExplicitPositions() throws {
        let config = TinyConfigs.gptNeoX()
        let store = try ParameterStore(config: config)
        randomize(store, seed: 6)
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 5)
        let tokens = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
        let implicit = try logits(model, tokens, positions: nil)
        let explicit = try logits(model, tokens, positions: [0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
        XCTAssertEqual(implicit, explicit)
    }

    func testMalformedPositionsAreRejected() throws {
        let store = try ParameterStore(config: TinyConfigs.stablelm())
        let model = try TrainingModel(parameters: store, batchSize: 1, seqLen: 4)
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3, 4], positions: [0, 1, 3, 4])) {
            XCTAssertTrue("\($0)".contains("does not continue a document"), "\($0)")
        }
        XCTAssertThrowsError(try model.forward(tokens: [1, 2, 3, 4], positions: [1, 2, 3, 4]))
    }
}
