// The row-by-row LoRA update scoring runs (LoRAAdapter.add with batchInvariant, C's hayai_lora_rows) against
// the plain-loop reference, on awkward sizes, and each row the same bits alone as among others.
import XCTest
import Foundation
@testable import Inference
import Kernels

final class LoRARowsTests: XCTestCase {
    func testRowByRowUpdateMatchesTheReferenceAndEachRowAlone() {
        var state = UInt64(3)
        func noise(_ n: Int) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float((state >> 40) & 0xFFFF) / 32768 - 1
            }
        }
        let pool = ThreadPool(threads: 2)
        for (inFeatures, outFeatures, rank, t) in [(37, 29, 3, 5), (64, 200, 8, 40), (577, 9, 1, 17)] {
            let adapter = LoRAAdapter(a: FloatTensor(values: noise(rank * inFeatures), shape: [rank, inFeatures]),
                                      b: FloatTensor(values: noise(outFeatures * rank), shape: [outFeatures, rank]), scale: 1.5)
            let x = noise(t * inFeatures), y0 = noise(t * outFeatures)
            var fast = y0, reference = y0, alone = y0
            x.withUnsafeBufferPointer { x in
                fast.withUnsafeMutableBufferPointer {
                    adapter.add(x.baseAddress!, t: t, inFeatures: inFeatures, outFeatures: outFeatures, into: $0.baseAddress!,
                                batchInvariant: true, pool: pool)
                }
                reference.withUnsafeMutableBufferPointer {
                    adapter.referenceAdd(x.baseAddress!, t: t, inFeatures: inFeatures, outFeatures: outFeatures, into: $0.baseAddress!)
                }
                alone.withUnsafeMutableBufferPointer { y in
                    for i in 0..<t {
                        adapter.add(x.baseAddress! + i * inFeatures, t: 1, inFeatures: inFeatures, outFeatures: outFeatures,
                                    into: y.baseAddress! + i * outFeatures, batchInvariant: true)
                    }
                }
            }
            let what = "in \(inFeatures), out \(outFeatures), rank \(rank), \(t) rows"
            for (f, r) in zip(fast, reference) { XCTAssertEqual(f, r, accuracy: 1e-4 * max(1, abs(r)), what) }
            XCTAssertEqual(fast, alone, "\(what): a row alone gives the same bits")
            XCTAssertNotEqual(fast, y0, what)
        }
    }
}
