// The IQ4_NL / IQ4_XS reference quantizers make ggml's choices: codes are the nearest table values
// (ties to the larger), a block's scale search finds an exact fit when there is one, and IQ4_XS's
// 6-bit sub-block scales are multiples of d = −(largest sub-block scale) / 32.
import XCTest
@testable import Kernels

final class IQ4QuantizeTests: XCTestCase {
    private let table: [Float] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    func testNearestCodeTakesTheCloserTableValueAndTheLargerOnATie() {
        XCTAssertEqual(nearestIQ4Code(-1000), 0)
        XCTAssertEqual(nearestIQ4Code(1000), 15)
        for (k, v) in table.enumerated() { XCTAssertEqual(Int(nearestIQ4Code(v)), k) }
        XCTAssertEqual(nearestIQ4Code(7), 9)          // halfway between 1 and 13
        XCTAssertEqual(nearestIQ4Code(6.99), 8)
        XCTAssertEqual(nearestIQ4Code(-115.5), 1)     // halfway between −127 and −104
        XCTAssertEqual(nearestIQ4Code(-115.51), 0)
    }

    /// ggml's best_index_int8 as written there: a binary search for the neighbouring pair, then the nearer.
    private func bestIndex(_ x: Float) -> Int {
        if x <= table[0] { return 0 }
        if x >= table[15] { return 15 }
        var ml = 0, mu = 15
        while mu - ml > 1 {
            let mav = (ml + mu) / 2
            if x < table[mav] { mu = mav } else { ml = mav }
        }
        return x - table[mu - 1] < table[mu] - x ? mu - 1 : mu
    }

    func testNearestCodeIsGGMLsBinarySearchEverywhere() {
        var xs: [Float] = [0, -0.0, .infinity, -.infinity, 1e30, -1e30]
        for k in 0..<15 {
            let mid = (table[k] + table[k + 1]) / 2
            var v = mid
            for _ in 0..<4 { xs += [v, v.nextUp, v.nextDown]; v = v.nextDown }
            v = mid
            for _ in 0..<4 { v = v.nextUp; xs.append(v) }
            xs += [table[k], table[k].nextUp, table[k].nextDown]
        }
        var rng = SplitMix64(seed: 17)
        for _ in 0..<20000 { xs.append(Float.random(in: -160...160, using: &rng)) }
        for x in xs { XCTAssertEqual(Int(nearestIQ4Code(x)), bestIndex(x), "x = \(x)") }
    }

    func testIQ4_NLValuesOnTheGridSurviveExactly() throws {
        // x = c·table[code]: the search's scale −max / table[0] = c fits with no error, so d = c exactly.
        for (b, c) in [Float(0.5), 0.015625, 3].enumerated() {
            let x = (0..<64).map { c * table[($0 * 7 + b) % 16] }
            let bytes = try quantized(.iq4_nl, x)
            XCTAssertEqual(try dequantized(.iq4_nl, bytes, count: 64), x, "c = \(c)")
            XCTAssertEqual(Float(Float16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8)), c)
        }
    }

    func testIQ4_XSValuesOnTheGridSurviveExactly() throws {
        // Sub-block ib = (k_ib / 64)·table values: the largest scale 32/64 makes d = −1/64, and every
        // k_ib / 64 is d·(ls − 32) with ls − 32 = −k_ib.
        let k: [Float] = [32, 1, 17, 5, 31, 8, 2, 12]
        var x = [Float](repeating: 0, count: 256)
        for ib in 0..<8 { for j in 0..<32 { x[32 * ib + j] = k[ib] / 64 * table[(j * 5 + ib) % 16] } }
        let bytes = try quantized(.iq4_xs, x)
        XCTAssertEqual(try dequantized(.iq4_xs, bytes, count: 256), x)
        XCTAssertEqual(Float(Float16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8)), -1.0 / 64)
        bytes.withUnsafeBytes { p in
            for ib in 0..<8 { XCTAssertEqual(iq4xsScale(p.baseAddress!, ib) - 32, -Int(k[ib]), "sub-block \(ib)") }
        }
    }

    func testIQ4_XSScalesAreMultiplesOfTheLargest() throws {
        // Random data: the sub-block with the largest |scale| gets ls − 32 = −32 exactly (d = −scale/32),
        // and each element's code is the nearest table value for its sub-block's scale d·(ls − 32).
        let n = 256 * 4
        let x = randomRow(n, seed: 91, scale: 0.02)
        let bytes = try quantized(.iq4_xs, x)
        bytes.withUnsafeBytes { p in
            for b in 0..<4 {
                let block = p.baseAddress! + 136 * b
                let ls = (0..<8).map { iq4xsScale(block, $0) - 32 }
                XCTAssertTrue(ls.contains(-32), "block \(b): \(ls)")
                let d = Float(Float16(bitPattern: block.loadUnaligned(as: UInt16.self)))
                for ib in 0..<8 {
                    let dl = d * Float(ls[ib])
                    for j in 0..<32 {
                        let byte = block.load(fromByteOffset: 8 + 16 * ib + j % 16, as: UInt8.self)
                        let code = Int(j < 16 ? byte & 0xF : byte >> 4)
                        let v = x[256 * b + 32 * ib + j]
                        let err = abs(dl * table[code] - v)
                        // Codes are chosen against the unrounded d: allow its half-precision rounding.
                        for other in table { XCTAssertLessThanOrEqual(err, abs(dl * other - v) + abs(dl) * 256 / 2048) }
                    }
                }
            }
        }
    }
}
