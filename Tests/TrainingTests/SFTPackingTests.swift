// SFT tokenization with prompt masking, and packing into rows with positions and ignored padding.
import XCTest
import Tokenizers
@testable import Training
import TestSupport

final class SFTPackingTests: XCTestCase {
    func tokenizer() throws -> Tokenizer { try TokenizerLoader.load(folder: Fixtures.fixture("stablelm-tiny").path) }

    func example(_ prompt: String, _ answer: String) -> SFTExample {
        SFTExample(segments: [.init(prompt, trained: false), .init(answer, trained: true), .init("<|endoftext|>", trained: true)])
    }

    func testOnlyResponseTokensAreScored() throws {
        let tok = try tokenizer()
        let seq = SFTPacking.tokenize(example("### 指示:\n日本の首都は?\n### 応答:\n", "東京です。"), tokenizer: tok)
        let prompt = tok.encode("### 指示:\n日本の首都は?\n### 応答:\n", addSpecialTokens: false)
        let answer = tok.encode("東京です。", addSpecialTokens: false)
        XCTAssertEqual(seq.tokens, prompt + answer + [0])
        XCTAssertEqual(seq.trained, Array(repeating: false, count: prompt.count) + Array(repeating: true, count: answer.count + 1))
        let (batches, report) = SFTPacking.pack([seq], seqLen: 64, rowsPerBatch: 1, padToken: 1)
        XCTAssertEqual(report.trainedTokens, answer.count + 1)
        let labels = batches[0].labels!
        XCTAssertEqual(labels.filter { $0 != -100 }, answer + [0])
        XCTAssertEqual(Array(labels[0..<prompt.count]), Array(repeating: -100, count: prompt.count))
    }

    func testPackingFillsRowsRestartsPositionsAndCountsTruncation() throws {
        let seqs = [
            SFTSequence(tokens: [5, 6, 7], trained: [false, true, true]),
            SFTSequence(tokens: [8, 9, 10, 11], trained: [false, false, true, true]),
            SFTSequence(tokens: [12, 13, 14], trained: [false, true, true]),
            SFTSequence(tokens: Array(20..<30), trained: Array(repeating: true, count: 10)),   // longer than a row
            SFTSequence(tokens: [40, 41], trained: [false, false]),                          // nothing to train
        ]
        let (batches, report) = SFTPacking.pack(seqs, seqLen: 8, rowsPerBatch: 2, padToken: 1)
        XCTAssertEqual(report.examples, 5)
        XCTAssertEqual(report.truncated, 1)
        XCTAssertEqual(report.skipped, 1)
        XCTAssertEqual(report.packedRows, 3)   // [3+4], [3], [8 of 10]
        XCTAssertEqual(batches.count, 2)
        let first = batches[0]
        XCTAssertEqual(Array(first.tokens[0..<8]), [5, 6, 7, 8, 9, 10, 11, 1])
        XCTAssertEqual(Array(first.positions![0..<8]), [0, 1, 2, 0, 1, 2, 3, 4])
        XCTAssertEqual(Array(first.labels![0..<8]), [-100, 6, 7, -100, -100, 10, 11, -100])
        XCTAssertEqual(Array(first.tokens[8..<16]), [12, 13, 14, 1, 1, 1, 1, 1])
        XCTAssertEqual(Array(batches[1].tokens[0..<8]), Array(20..<28))
        // The filler row of the last batch is entirely ignored.
        XCTAssertEqual(Array(batches[1].labels![8..<16]), Array(repeating: -100, count: 8))
    }

    func testPackedBatchesTrainWithoutErrors() throws {
        let tok = try tokenizer()
        let store = try ParameterStore.load(folder: Fixtures.fixture("stablelm-tiny").path)
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 32)
        let seqs = [example("Q: 1+1?\nA:", " 2"), example("Q: 空の色は?\nA:", " 青")].map { SFTPacking.tokenize($0, tokenizer: tok) }
        let (batches, _) = SFTPacking.pack(seqs, seqLen: 32, rowsPerBatch: 2, padToken: 1)
        let loss = try model.forward(tokens: batches[0].tokens, labels: batches[0].labels, positions: batches[0].positions)
        XCTAssertTrue(loss.isFinite && loss > 0)
        XCTAssertEqual(model.targetCount, seqs.reduce(0) { $0 + $1.trainedCount })
    }
}
