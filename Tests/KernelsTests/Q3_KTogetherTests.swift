// Q3_K_M's attention: q and k are Q3_K, v is Q5_K (Q4_K after layer 1), one job over one Q8_K input.
// Q3_K's prepared activation rows (sub-block sum pairs per pass) differ from Q4_K/Q5_K's (pairs per
// 32-element sub-block pair): each matrix must get its own type's rows, and its products the bits of
// its own matMul, on one thread and several.
import XCTest
import Kernels

final class Q3_KTogetherTests: XCTestCase {
    func testQ3_KAndQ5_KAndQ4_KTogetherEqualTheirOwnProducts() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        let rows = [64, 32, 32, 48], cols = 256 * 3, t = 21
        let types: [GGMLType] = [.q3_K, .q3_K, .q5_K, .q4_K]
        let storage = types.indices.map { randomBlocks(types[$0], count: rows[$0] * cols, seed: 31 + UInt64($0)) }
        var matrices: [QuantizedMatrix] = [], owners: [AnyObject] = []
        for i in types.indices {
            let m = try storage[i].withUnsafeBytes { try QuantizedMatrix(type: types[i], rows: rows[i], cols: cols, data: $0.baseAddress!) }
            var (x16, owner) = try XCTUnwrap(m.interleaved())
            x16.chunkBytes = 4096
            matrices.append(x16); owners.append(owner)
        }
        let x = randomRow(t * cols, seed: 32)
        for pool in [nil, ThreadPool(threads: 2)] {
            var expected: [[Float]] = []
            for m in matrices {
                var y = [Float](repeating: .nan, count: t * m.rows)
                m.matMul(x: x, t: t, into: &y, pool: nil)
                expected.append(y)
            }
            let ys = rows.map { UnsafeMutablePointer<Float>.allocate(capacity: t * $0) }
            defer { ys.forEach { $0.deallocate() } }
            for (y, r) in zip(ys, rows) { y.initialize(repeating: .nan, count: t * r) }
            x.withUnsafeBufferPointer { xp in
                QuantizedMatrix.matMul(Array(zip(matrices, ys)).map { (matrix: $0.0, y: $0.1) }, x: xp.baseAddress!, t: t, pool: pool)
            }
            for (i, y) in ys.enumerated() {
                let got = Array(UnsafeBufferPointer(start: y, count: t * rows[i]))
                XCTAssertEqual(got.map(\.bitPattern), expected[i].map(\.bitPattern), "\(types[i]) matrix \(i) threads \(pool?.threads ?? 1)")
            }
        }
        withExtendedLifetime((owners, storage)) {}
    }
}
