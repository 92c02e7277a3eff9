// RowPositions.offset(by:): a piece of a batch (rows first, first + 1, ...) as a batch of its own, as the
// forward pass splits RoPE over the pool's threads.
import XCTest
@testable import Inference

final class RowPositionsTests: XCTestCase {
    func testAPieceSeesTheBatchsPositionsFromItsFirstRow() {
        let listed: [Int32] = [7, 8, 9, 0, 1, 2, 3]
        listed.withUnsafeBufferPointer { p in
            let cases: [RowPositions] = [.consecutive(from: 5), .listed(p.baseAddress!), .perSequence(seqLen: 4, packed: p.baseAddress!),
                                         .perSequence(seqLen: 3, packed: nil)]
            for whole in cases {
                for first in [0, 3, 6] {
                    guard let piece = whole.offset(by: first) else { return XCTFail("\(whole) at \(first)") }
                    for r in 0..<(listed.count - first) { XCTAssertEqual(piece(r), whole(first + r), "\(whole) at \(first), row \(r)") }
                }
            }
        }
    }

    func testSequencesWithoutPackedPositionsSplitOnlyAtASequenceStart() {
        let whole = RowPositions.perSequence(seqLen: 4, packed: nil)
        XCTAssertNil(whole.offset(by: 3))
        XCTAssertEqual(whole.offset(by: 8).map { $0(1) }, 1)
    }
}
