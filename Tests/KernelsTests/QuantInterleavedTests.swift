// The 16-row interleaved layout (QuantizedMatrix.interleaved(), CKernels/quant_x16.c) against the
// GGUF row layout and the scalar references: same products, same dequantized rows, on shapes with
// odd and even block counts, one and two threads, one token and several.
import Foundation
import XCTest
import CKernels
import Kernels

final class QuantInterleavedTests: XCTestCase {
    private let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs]

    private func skipUnlessAvailable() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
    }

    /// (rows, cols) pairs: odd and even numbers of blocks, several groups.
    private func shapes(_ type: GGMLType) -> [(Int, Int)] {
        type.blockSize == 256 ? [(48, 256 * 3), (32, 256 * 2), (16, 256)] : [(48, 32 * 23), (64, 32 * 8), (16, 32)]
    }

    private func matrix(_ bytes: [UInt8], _ type: GGMLType, _ rows: Int, _ cols: Int, path: QuantizedDot.Path = .avx2) throws -> QuantizedMatrix {
        try bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!, path: path) }
    }

    func testMatVecEqualsScalarReferenceOnOneAndTwoThreads() throws {
        try skipUnlessAvailable()
        let pools: [ThreadPool?] = [nil, ThreadPool(threads: 2)]
        for type in types {
            for (rows, cols) in shapes(type) {
                let bytes = try quantized(type, randomRow(rows * cols, seed: 7 + UInt64(cols), scale: 0.05))
                let x = randomRow(cols, seed: 8)
                let reference = try matrix(bytes, type, rows, cols, path: .scalar)
                var expected = [Float](repeating: 0, count: rows)
                bytes.withUnsafeBytes { _ in reference.matVec(x: x, into: &expected, pool: nil) }
                var (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
                XCTAssertEqual(m.layout, .interleaved16)
                m.chunkBytes = 1024  // several chunks of whole groups
                for pool in pools {
                    var y = [Float](repeating: .nan, count: rows)
                    withExtendedLifetime(owner) { m.matVec(x: x, into: &y, pool: pool) }
                    for r in 0..<rows {
                        XCTAssertEqual(y[r], expected[r], accuracy: 1e-4 * max(1, abs(expected[r])),
                                       "\(type) \(rows)x\(cols) threads \(pool?.threads ?? 1) row \(r)")
                    }
                }
                _ = owner
            }
        }
    }

    /// Every bit pattern of the codes, scales and minimums (random block bytes rather than what the
    /// quantizers choose), against the scalar reference, for 1 to 21 tokens (the 32-element kernels
    /// take 8 or 4 tokens at once, the K-quant ones 4, then one at a time: 13 = 8 + 4 + 1, 21 = 8 + 8 + 4 + 1).
    func testRandomBlocksEqualScalarReferenceForSeveralTokenCounts() throws {
        try skipUnlessAvailable()
        let pool = ThreadPool(threads: 2)
        for type in types {
            for (rows, cols) in shapes(type) {
                let bytes = randomBlocks(type, count: rows * cols, seed: 41 + UInt64(cols))
                let reference = try matrix(bytes, type, rows, cols, path: .scalar)
                var (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
                m.chunkBytes = 2048
                for t in [1, 3, 4, 9, 13, 21] {
                    let x = randomRow(t * cols, seed: 42 + UInt64(t))
                    var expected = [Float](repeating: 0, count: t * rows)
                    bytes.withUnsafeBytes { _ in
                        reference.matMul(x: x, t: t, into: &expected, pool: nil, strategy: .quantizedDots)
                    }
                    for p in [nil, pool] {
                        var y = [Float](repeating: .nan, count: t * rows)
                        withExtendedLifetime(owner) { m.matMul(x: x, t: t, into: &y, pool: p, strategy: .quantizedDots) }
                        let scale = expected.map { abs($0) }.max()!
                        for i in 0..<t * rows {
                            XCTAssertEqual(y[i], expected[i], accuracy: 1e-5 * max(1, scale),
                                           "\(type) \(rows)x\(cols) t=\(t) threads \(p?.threads ?? 1) token \(i / rows) row \(i % rows)")
                        }
                    }
                }
                _ = owner
            }
        }
    }

    /// hayai_x16_prepare's rows (each token prepared once per product, as QuantizedMatrix.matMul does) give
    /// the bits of the kernels preparing each call's tokens themselves, for every type and token counts
    /// that take every kernel width.
    func testPreparedActivationRowsGiveTheSameBits() throws {
        try skipUnlessAvailable()
        for type in types {
            for (rows, cols) in shapes(type) {
                let bytes = randomBlocks(type, count: rows * cols, seed: 61 + UInt64(cols))
                let (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
                let t = 13, nb = Int32(cols / type.blockSize), xqBytes = m.activationRowBytes
                let x = randomRow(t * cols, seed: 62)
                var xq = [UInt8](repeating: 0, count: t * xqBytes)
                xq.withUnsafeMutableBytes { q in x.withUnsafeBufferPointer { xb in
                    for s in 0..<t { m.quantizeActivations(xb.baseAddress! + s * cols, into: q.baseAddress! + s * xqBytes) }
                } }
                let stride = hayai_x16_prepared_bytes(type.rawValue, nb) + 4   // a stride other than the row's size
                var prepared = [UInt8](repeating: 0xEE, count: t * stride)
                xq.withUnsafeBytes { q in prepared.withUnsafeMutableBytes {
                    hayai_x16_prepare(type.rawValue, nb, q.baseAddress!, xqBytes, Int32(t), $0.baseAddress!, stride)
                } }
                var plain = [Float](repeating: .nan, count: t * rows), viaPrepared = plain
                withExtendedLifetime(owner) {
                    xq.withUnsafeBytes { q in
                        XCTAssertEqual(hayai_x16_dot_rows_tokens(type.rawValue, nb, m.data, Int32(rows / 16), q.baseAddress!, xqBytes, Int32(t),
                                                                 &plain, rows), 1)
                        prepared.withUnsafeBytes { p in
                            XCTAssertEqual(hayai_x16_dot_rows_tokens_prepared(type.rawValue, nb, m.data, Int32(rows / 16), q.baseAddress!, xqBytes,
                                                                              p.baseAddress!, stride, Int32(t), &viaPrepared, rows), 1)
                        }
                    }
                }
                XCTAssertEqual(viaPrepared.map(\.bitPattern), plain.map(\.bitPattern), "\(type) \(rows)x\(cols)")
            }
        }
    }

    /// One job over matrices of different types with the same activation format (Q4_0, Q5_0 and Q8_0 all
    /// take Q8_0 rows, with different offsets in what is prepared): each gets its own type's prepared rows.
    /// Matrices of different types over one activation format in one job (a Q4_K_M or Q3_K_M layer's
    /// q, k and v; the K-quants and IQ4_XS each prepare their own rows from the same Q8_K input): each
    /// gets its own product's bits, on one thread and two.
    func testTogetherProductsOfMixedTypesEqualSeparateProducts() throws {
        try skipUnlessAvailable()
        try checkTogether([.q4_0, .q5_0, .q8_0, .iq4_nl], cols: 32 * 23)
        try checkTogether([.q2_K, .q3_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs], cols: 256 * 3)
    }

    private func checkTogether(_ types: [GGMLType], cols: Int) throws {
        let pool = ThreadPool(threads: 2)
        let rows = 48, t = 21
        var matrices: [(QuantizedMatrix, AnyObject)] = []
        for (i, type) in types.enumerated() {
            let bytes = randomBlocks(type, count: rows * cols, seed: 71 + UInt64(i))
            var (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
            m.chunkBytes = 2048
            matrices.append((m, owner))
        }
        let x = randomRow(t * cols, seed: 72)
        for p in [nil, pool] {
            let n = t * rows
            var together = [Float](repeating: .nan, count: matrices.count * n)
            var separate = [[Float]](repeating: [Float](repeating: .nan, count: n), count: matrices.count)
            withExtendedLifetime(matrices) {
                together.withUnsafeMutableBufferPointer { y in
                    QuantizedMatrix.matMul(matrices.indices.map { (matrices[$0].0, y.baseAddress! + $0 * n) }, x: x, t: t, pool: p,
                                           strategy: .quantizedDots)
                }
                for i in matrices.indices { matrices[i].0.matMul(x: x, t: t, into: &separate[i], pool: p, strategy: .quantizedDots) }
            }
            for i in matrices.indices {
                XCTAssertEqual(together[i * n..<(i + 1) * n].map(\.bitPattern), separate[i].map(\.bitPattern), "\(matrices[i].0.type) threads \(p?.threads ?? 1)")
            }
        }
    }

    func testMatMulOfSeveralTokensEqualsOneTokenAtATime() throws {
        try skipUnlessAvailable()
        let pool = ThreadPool(threads: 2)
        for type in types {
            let (rows, cols) = shapes(type)[0]
            let bytes = try quantized(type, randomRow(rows * cols, seed: 17, scale: 0.05))
            let w = try dequantized(type, bytes, count: rows * cols)
            let (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
            for t in [2, 4, 7, 9] {
                let x = randomRow(t * cols, seed: 18 + UInt64(t))
                var y = [Float](repeating: .nan, count: t * rows)
                var single = [Float](repeating: .nan, count: rows)
                withExtendedLifetime(owner) { m.matMul(x: x, t: t, into: &y, pool: pool, strategy: .quantizedDots) }
                for s in 0..<t {
                    withExtendedLifetime(owner) {
                        x.withUnsafeBufferPointer { m.matVec(x: $0.baseAddress! + s * cols, into: &single, pool: nil) }
                    }
                    for r in 0..<rows {
                        XCTAssertEqual(y[s * rows + r], single[r], accuracy: 1e-5 * max(1, abs(single[r])), "\(type) t=\(t) token \(s) row \(r)")
                    }
                }
                // Dequantized tiles + sgemm see the float x: equal to the float product of the weights.
                var viaGemm = [Float](repeating: .nan, count: t * rows)
                withExtendedLifetime(owner) { m.matMul(x: x, t: t, into: &viaGemm, pool: pool, strategy: .dequantizeTilesAndGemm) }
                for s in 0..<t {
                    for r in 0..<rows {
                        var exact = 0.0, magnitude = 0.0
                        for c in 0..<cols {
                            let p = Double(w[r * cols + c]) * Double(x[s * cols + c])
                            exact += p; magnitude += abs(p)
                        }
                        XCTAssertEqual(Double(viaGemm[s * rows + r]), exact, accuracy: 1e-5 * magnitude + 1e-6, "\(type) t=\(t) token \(s) row \(r)")
                    }
                }
            }
        }
    }

    func testDequantizedRowsEqualTheReferenceExactly() throws {
        try skipUnlessAvailable()
        for type in types {
            for (rows, cols) in shapes(type) {
                let bytes = try quantized(type, randomRow(rows * cols, seed: 27, scale: 0.05))
                let expected = try dequantized(type, bytes, count: rows * cols)
                let (m, owner) = try XCTUnwrap(try matrix(bytes, type, rows, cols).interleaved())
                for range in [0..<rows, 3..<min(rows, 29), (rows - 1)..<rows] {
                    var out = [Float](repeating: .nan, count: range.count * cols)
                    withExtendedLifetime(owner) { m.dequantizeRows(range, into: &out) }
                    XCTAssertEqual(out, Array(expected[range.lowerBound * cols ..< range.upperBound * cols]), "\(type) \(rows)x\(cols) rows \(range)")
                }
            }
        }
    }

    /// The one-token Q5_K and Q2_K kernels request weights a few KiB ahead of the block they multiply; at the
    /// end of a matrix that lies right before an unmapped page the requests must neither fault nor
    /// change the products. Q4_K and Q6_K placed the same way for comparison.
    func testOneTokenProductsOfAMatrixEndingAtAnUnmappedPageEqualTheReference() throws {
        try skipUnlessAvailable()
        let page = Int(sysconf(Int32(_SC_PAGESIZE))), guardBytes = 16 * page
        // The one-token kernels that ask for the weights ahead (Q5_K, Q2_K, Q3_K, IQ4_XS, the 32-element types
        // but Q8_0), and Q4_K and Q6_K, which do not.
        for type in [GGMLType.q5_K, .q4_K, .q6_K, .q2_K, .q3_K, .iq4_xs, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl] {
            let (rows, cols) = (32, 256 * 3)
            let bytes = try quantized(type, randomRow(rows * cols, seed: 61, scale: 0.05))
            let x = randomRow(cols, seed: 62)
            let reference = try matrix(bytes, type, rows, cols, path: .scalar)
            var expected = [Float](repeating: 0, count: rows)
            reference.matVec(x: x, into: &expected, pool: nil)
            let mapped = (bytes.count + page - 1) / page * page
            let region = try XCTUnwrap(mmap(nil, mapped + guardBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
            XCTAssertNotEqual(region, MAP_FAILED)
            defer { munmap(region, mapped + guardBytes) }
            XCTAssertEqual(mprotect(region + mapped, guardBytes, PROT_NONE), 0)
            let packed = try matrix(bytes, type, rows, cols).interleaved(into: region + mapped - bytes.count)   // ends at the guard
            for pool in [nil, ThreadPool(threads: 2)] as [ThreadPool?] {
                var y = [Float](repeating: .nan, count: rows)
                packed.matVec(x: x, into: &y, pool: pool)
                for r in 0..<rows {
                    XCTAssertEqual(y[r], expected[r], accuracy: 1e-4 * max(1, abs(expected[r])), "\(type) row \(r)")
                }
            }
        }
    }

    func testOnlyWholeGroupsOfSupportedTypesOnTheFastPathInterleave() throws {
        try skipUnlessAvailable()
        let bytes = [UInt8](repeating: 0, count: 64 * 1024)
        XCTAssertNil(try matrix(bytes, .q4_0, 37, 64).interleaved(), "rows not a multiple of 16")
        XCTAssertNil(try matrix(bytes, .q4_K, 32, 65536 + 256).interleaved(), "rows longer than the kernels prepare")
        for type in types { XCTAssertNotNil(try matrix(bytes, type, 16, 256).interleaved(), "\(type) has an x16 kernel") }
        XCTAssertNil(try matrix(bytes, .q8_0, 16, 64, path: .scalar).interleaved(), "scalar path keeps the GGUF layout")
        let (m, _) = try XCTUnwrap(try matrix(bytes, .q8_0, 32, 64).interleaved())
        XCTAssertNil(m.interleaved(), "already interleaved")
        XCTAssertEqual(m.preferredStrategy(tokens: 512), .quantizedDots)
    }
}
