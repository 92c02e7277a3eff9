// QuantizedMatrix.matMul(_:x:t:pool:): several matrices of one input (q, k, v; gate, up) quantize the
// input once and share one job of (row chunk, token block) units; every product must equal the
// matrix's own matMul bit for bit, whatever the threads, token counts and chunk sizes.
import Foundation
import XCTest
import Kernels

final class QuantMatMulTogetherTests: XCTestCase {
    private func matrices(_ type: GGMLType, rows: [Int], cols: Int, interleave: Bool) throws -> ([QuantizedMatrix], [AnyObject], [[UInt8]]) {
        var out: [QuantizedMatrix] = [], owners: [AnyObject] = [], storage: [[UInt8]] = []
        for (i, r) in rows.enumerated() {
            let bytes = try quantized(type, randomRow(r * cols, seed: 90 + UInt64(i), scale: 0.05))
            storage.append(bytes)
        }
        for (i, r) in rows.enumerated() {
            let m = try storage[i].withUnsafeBytes { try QuantizedMatrix(type: type, rows: r, cols: cols, data: $0.baseAddress!) }
            if interleave {
                var (x16, owner) = try XCTUnwrap(m.interleaved())
                x16.chunkBytes = 4096   // several chunks of unequal count per matrix
                out.append(x16); owners.append(owner)
            } else {
                var m = m
                m.chunkBytes = 4096
                out.append(m)
            }
        }
        return (out, owners, storage)
    }

    private func check(_ type: GGMLType, interleave: Bool) throws {
        let cols = type.blockSize == 256 ? 512 : 32 * 9
        let rows = [96, 32, 48]
        let (ms, owners, storage) = try matrices(type, rows: rows, cols: cols, interleave: interleave)
        for pool in [nil, ThreadPool(threads: 2), ThreadPool(threads: 3)] {
            for t in [2, 9, 37, 130] {
                let x = randomRow(t * cols, seed: 5 + UInt64(t))
                var expected: [[Float]] = []
                for m in ms {
                    var y = [Float](repeating: .nan, count: t * m.rows)
                    m.matMul(x: x, t: t, into: &y, pool: nil)
                    expected.append(y)
                }
                let ys = rows.map { UnsafeMutablePointer<Float>.allocate(capacity: t * $0) }
                defer { ys.forEach { $0.deallocate() } }
                for (y, r) in zip(ys, rows) { y.initialize(repeating: .nan, count: t * r) }
                x.withUnsafeBufferPointer { xp in
                    QuantizedMatrix.matMul(Array(zip(ms, ys)).map { (matrix: $0.0, y: $0.1) }, x: xp.baseAddress!, t: t, pool: pool)
                }
                for (i, y) in ys.enumerated() {
                    let got = Array(UnsafeBufferPointer(start: y, count: t * rows[i]))
                    XCTAssertEqual(got, expected[i], "\(type) interleaved \(interleave) threads \(pool?.threads ?? 1) t=\(t) matrix \(i)")
                }
            }
        }
        withExtendedLifetime((owners, storage)) {}
    }

    func testSeveralMatricesEqualTheirOwnProductsInTheRowLayout() throws {
        for type in [GGMLType.q4_1, .q8_0, .q4_K] { try check(type, interleave: false) }
    }

    func testSeveralMatricesEqualTheirOwnProductsInterleaved() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        for type in [GGMLType.q4_1, .q8_0, .q4_K, .q6_K] { try check(type, interleave: true) }
    }

    /// Matrices of different widths cannot share a quantized input: each is multiplied on its own
    /// (B reads the same pointer as (t, 32)), with the same results as its own matMul.
    func testMatricesOfDifferentWidthsFallBackToOneByOne() throws {
        let a = try quantized(.q8_0, randomRow(32 * 64, seed: 1, scale: 0.05)), b = try quantized(.q8_0, randomRow(32 * 32, seed: 2, scale: 0.05))
        let ma = try a.withUnsafeBytes { try QuantizedMatrix(type: .q8_0, rows: 32, cols: 64, data: $0.baseAddress!) }
        let mb = try b.withUnsafeBytes { try QuantizedMatrix(type: .q8_0, rows: 32, cols: 32, data: $0.baseAddress!) }
        let t = 5, x = randomRow(t * 64, seed: 3)
        var ea = [Float](repeating: 0, count: t * 32), eb = [Float](repeating: 0, count: t * 32)
        ma.matMul(x: x, t: t, into: &ea, pool: nil)
        mb.matMul(x: x, t: t, into: &eb, pool: nil)
        let ya = UnsafeMutablePointer<Float>.allocate(capacity: t * 32), yb = UnsafeMutablePointer<Float>.allocate(capacity: t * 32)
        defer { ya.deallocate(); yb.deallocate() }
        x.withUnsafeBufferPointer { QuantizedMatrix.matMul([(ma, ya), (mb, yb)], x: $0.baseAddress!, t: t, pool: ThreadPool(threads: 2)) }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: ya, count: t * 32)), ea)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: yb, count: t * 32)), eb)
        withExtendedLifetime((a, b)) {}
    }
}
