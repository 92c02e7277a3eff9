// The x16 kernels that take several tokens at once (8 and 4: x16_k4_t8, x16_q6_K_t8, x16_blocks32)
// against the one-token kernels and the scalar reference, on every token count from 1 to 17 (every
// mix of 8-, 4- and 1-token calls) and block counts of 1 and odd, with one group of rows and several.
import XCTest
import CKernels
import Kernels

final class QuantInterleavedTokenBlockTests: XCTestCase {
    private let types: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_0, .q4_1, .iq4_nl, .iq4_xs]

    /// (rows, blocks per row): one group, one block; one group, an odd count; several groups, odd.
    private let shapes = [(16, 1), (16, 3), (48, 5)]

    /// Each token's products with the interleaved rows, computed `tokens` at a time (with and without
    /// hayai_x16_prepare's rows) and one token at a time; the integer sums are exact and the float steps
    /// the same in every kernel width, so the bits agree.
    private func products(_ type: GGMLType, _ m: QuantizedMatrix, _ xq: [UInt8], tokens: Int, prepared: Bool) -> [Float] {
        let nb = Int32(m.cols / type.blockSize), xqBytes = m.activationRowBytes
        var y = [Float](repeating: .nan, count: tokens * m.rows)
        let stride = hayai_x16_prepared_bytes(type.rawValue, nb) + 12   // a stride other than the row's size
        var rows = [UInt8](repeating: 0xEE, count: max(1, tokens * stride))
        xq.withUnsafeBytes { q in
            if prepared { rows.withUnsafeMutableBytes { hayai_x16_prepare(type.rawValue, nb, q.baseAddress!, xqBytes, Int32(tokens), $0.baseAddress!, stride) } }
            rows.withUnsafeBytes { p in
                let done = hayai_x16_dot_rows_tokens_prepared(type.rawValue, nb, m.data, Int32(m.rows / 16), q.baseAddress!, xqBytes,
                                                              prepared ? p.baseAddress! : nil, stride, Int32(tokens), &y, m.rows)
                XCTAssertEqual(done, 1)
            }
        }
        return y
    }

    func testEveryTokenCountUpTo17GivesTheBitsOfOneTokenAtATimeAndTheReference() throws {
        try XCTSkipUnless(QuantizedMatrix.interleavingAvailable, "this CPU has no AVX512-VNNI")
        for type in types {
            for (rows, nb) in shapes {
                let cols = nb * type.blockSize
                let bytes = randomBlocks(type, count: rows * cols, seed: 91 + UInt64(nb))
                let reference = try bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!, path: .scalar) }
                let plain = try bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!) }
                let (m, owner) = try XCTUnwrap(try plain.interleaved())
                let tokens = 17, xqBytes = m.activationRowBytes
                let x = randomRow(tokens * cols, seed: 92 + UInt64(nb))
                var xq = [UInt8](repeating: 0, count: tokens * xqBytes)
                xq.withUnsafeMutableBytes { q in x.withUnsafeBufferPointer { xb in
                    for s in 0..<tokens { m.quantizeActivations(xb.baseAddress! + s * cols, into: q.baseAddress! + s * xqBytes) }
                } }
                var expected = [Float](repeating: 0, count: tokens * rows)
                bytes.withUnsafeBytes { _ in reference.matMul(x: x, t: tokens, into: &expected, pool: nil, strategy: .quantizedDots) }
                withExtendedLifetime(owner) {
                    // One token at a time: the one-token kernel.
                    var single = [Float]()
                    for s in 0..<tokens {
                        single += products(type, m, Array(xq[s * xqBytes..<(s + 1) * xqBytes]), tokens: 1, prepared: false)
                    }
                    let scale = expected.map { abs($0) }.max()!
                    for i in 0..<tokens * rows {
                        XCTAssertEqual(single[i], expected[i], accuracy: 1e-5 * max(1, scale), "\(type) \(rows)x\(nb) blocks token \(i / rows) row \(i % rows)")
                    }
                    for t in 1...tokens {
                        let head = Array(xq[0..<t * xqBytes]), want = Array(single[0..<t * rows]).map(\.bitPattern)
                        for prepared in [false, true] {
                            let y = products(type, m, head, tokens: t, prepared: prepared)
                            XCTAssertEqual(y.map(\.bitPattern), want, "\(type) \(rows)x\(nb) blocks t=\(t) prepared \(prepared)")
                        }
                    }
                }
            }
        }
    }
}
