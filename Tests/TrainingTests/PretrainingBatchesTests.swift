import XCTest
@testable import Training

final class PretrainingBatchesTests: XCTestCase {
    func testEachEpochVisitsEveryWindowOnceInASeededOrder() throws {
        let tokens = Array(0..<103)                  // 10 windows of 10, a tail of 3 dropped
        let data = try PretrainingBatches(tokens: tokens, batchSize: 3, seqLen: 10, seed: 7)
        XCTAssertEqual(data.windowCount, 10)
        XCTAssertEqual(data.batchesPerEpoch, 3)
        var starts: [Int] = []
        for i in 0..<3 {
            let b = data.batch(i)
            XCTAssertEqual(b.tokens.count, 30)
            for w in 0..<3 {
                let window = Array(b.tokens[(w * 10)..<((w + 1) * 10)])
                XCTAssertEqual(window, Array(window[0]..<window[0] + 10))
                starts.append(window[0])
            }
        }
        XCTAssertEqual(Set(starts).count, 9)
        XCTAssertTrue(starts.allSatisfy { $0 % 10 == 0 && $0 < 100 })
        XCTAssertEqual(try PretrainingBatches(tokens: tokens, batchSize: 3, seqLen: 10, seed: 7).batch(4).tokens, data.batch(4).tokens)
        XCTAssertNotEqual(data.order(epoch: 0), data.order(epoch: 1))
        XCTAssertNotEqual(try PretrainingBatches(tokens: tokens, batchSize: 3, seqLen: 10, seed: 8).order(epoch: 0), data.order(epoch: 0))
        XCTAssertThrowsError(try PretrainingBatches(tokens: Array(0..<25), batchSize: 3, seqLen: 10, seed: 1))
    }
}
