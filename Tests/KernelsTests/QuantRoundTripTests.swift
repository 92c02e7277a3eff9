// Quantize -> dequantize stays within each type's error budget, and the reference quantizers make
// the choices ggml's do (checked on properties that pin them: exact grids, zero rows, scale rules).
import XCTest
@testable import Kernels

final class QuantRoundTripTests: XCTestCase {
    /// Largest allowed RMS error relative to the RMS of the input, per type (a few times the typical
    /// value for near-normal data; a wrong layout or scale rule gives errors of order 1).
    private let relativeRMSBudget: [GGMLType: Double] = [
        .q8_0: 0.01, .q8_1: 0.01, .q8_K: 0.02, .q6_K: 0.03,
        .q5_0: 0.06, .q5_1: 0.05, .q5_K: 0.05,
        .q4_0: 0.11, .q4_1: 0.10, .q4_K: 0.10,
        .q2_K: 0.35,   // measured 0.31: two bits leave little
        .q3_K: 0.22,
        .iq4_nl: 0.10, .iq4_xs: 0.10,
    ]

    func testRoundTripErrorIsWithinBudgetForEveryType() throws {
        for type in referenceQuantizableTypes {
            let n = type.blockSize == 32 ? 32 * 37 : 256 * 5  // 1184 is not a multiple of 64 or 256
            let x = randomRow(n, seed: 7 + UInt64(type.rawValue), scale: 0.02)
            let back = try dequantized(type, quantized(type, x), count: n)
            var err = 0.0, norm = 0.0
            for i in 0..<n {
                err += Double(back[i] - x[i]) * Double(back[i] - x[i])
                norm += Double(x[i]) * Double(x[i])
            }
            let relative = (err / norm).squareRoot()
            XCTAssertLessThan(relative, relativeRMSBudget[type]!, "\(type)")
        }
    }

    func testSymmetricTypesStayWithinHalfAStepPerElement() throws {
        // Q8_0: every element within d/2 of its code times the exact d = absmax / 127; storing d in
        // half precision moves a code of at most 127 by a further 127·d·2⁻¹¹.
        let x = randomRow(32 * 9, seed: 3)
        let bytes = try quantized(.q8_0, x)
        let back = try dequantized(.q8_0, bytes, count: x.count)
        for b in 0..<9 {
            let d = Float(Float16(bitPattern: UInt16(bytes[34 * b]) | UInt16(bytes[34 * b + 1]) << 8))
            for j in 0..<32 { XCTAssertLessThanOrEqual(abs(back[32 * b + j] - x[32 * b + j]), d * (0.5 + 127.0 / 2048) * 1.001) }
        }
    }

    func testValuesOnTheGridSurviveExactly() throws {
        // Integers -127...127 times a power of two quantize to themselves in Q8_0 and Q8_K.
        var x = [Float](repeating: 0, count: 256)
        for i in 0..<256 { x[i] = Float((i * 37) % 255 - 127) * 0.25 }
        x[0] = 127 * 0.25
        x[32] = -127 * 0.25; x[64] = 127 * 0.25; x[96] = 127 * 0.25; x[128] = 127 * 0.25
        x[160] = 127 * 0.25; x[192] = 127 * 0.25; x[224] = 127 * 0.25
        XCTAssertEqual(try dequantized(.q8_0, quantized(.q8_0, x), count: 256), x)
        XCTAssertEqual(try dequantized(.q8_K, quantized(.q8_K, x), count: 256), x)
    }

    func testZeroRowsQuantizeToZero() throws {
        let zeros = [Float](repeating: 0, count: 512)
        for type in referenceQuantizableTypes {
            let back = try dequantized(type, quantized(type, zeros), count: 512)
            XCTAssertEqual(back, zeros, "\(type)")
        }
    }

    func testQ4_0ScaleIsSignedMaxOverMinusEight() throws {
        // ggml picks d = max / -8 with max the signed value of largest magnitude, so that value maps
        // to code 0 exactly.
        var x = [Float](repeating: 0.1, count: 32)
        x[5] = -3.2
        let bytes = try quantized(.q4_0, x)
        let d = Float(Float16(bitPattern: UInt16(bytes[0]) | UInt16(bytes[1]) << 8))
        XCTAssertEqual(d, Float(Float16(-3.2 / -8)))
        XCTAssertEqual(bytes[2 + 5] & 0xF, 0)
        let back = try dequantized(.q4_0, bytes, count: 32)
        XCTAssertEqual(back[5], -8 * d)
    }

    func testQ8_KBlockSumsMatchQuants() throws {
        let x = randomRow(512, seed: 11)
        let bytes = try quantized(.q8_K, x)
        for b in 0..<2 {
            for j in 0..<16 {
                var sum = 0
                for i in 0..<16 { sum += Int(Int8(bitPattern: bytes[292 * b + 4 + 16 * j + i])) }
                let stored = Int(Int16(bitPattern: UInt16(bytes[292 * b + 260 + 2 * j]) | UInt16(bytes[292 * b + 261 + 2 * j]) << 8))
                XCTAssertEqual(stored, sum)
            }
        }
    }

    func testQ8_1SumIsScaleTimesSumOfQuants() throws {
        let x = randomRow(64, seed: 12)
        let bytes = try quantized(.q8_1, x)
        for b in 0..<2 {
            // ggml multiplies by the unrounded d = absmax / 127, then rounds s to half precision.
            let d = x[32 * b ..< 32 * b + 32].map { abs($0) }.max()! / 127
            let s = Float(Float16(bitPattern: UInt16(bytes[36 * b + 2]) | UInt16(bytes[36 * b + 3]) << 8))
            var sum = 0
            for i in 0..<32 { sum += Int(Int8(bitPattern: bytes[36 * b + 4 + i])) }
            XCTAssertEqual(s, Float(Float16(Float(sum) * d)))
        }
    }

    func testKQuantScalesAreSixBitAndCodesInRange() throws {
        // Q4_K/Q5_K: the largest sub-block scale quantizes to 63; Q6_K: scale codes within int8.
        let x = randomRow(256 * 3, seed: 21, scale: 0.05)
        for type in [GGMLType.q4_K, .q5_K] {
            let bytes = try quantized(type, x)
            for b in 0..<3 {
                let scales = Array(bytes[type.bytesPerBlock * b + 4 ..< type.bytesPerBlock * b + 16])
                let six = scales.withUnsafeBufferPointer { q in (0..<8).map { scaleMinK4($0, q.baseAddress!).scale } }
                XCTAssertEqual(six.max(), 63, "\(type) block \(b)")
            }
        }
    }
    func testQ2_KLargestScaleAndMinGetCodeFifteen() throws {
        // ggml's Q2_K: d = largest sub-block scale / 15 and dmin = largest min / 15, so those two
        // quantize to 15; every code is then refitted to the stored 4-bit scale and min.
        let x = randomRow(256 * 3, seed: 22, scale: 0.05)
        let bytes = try quantized(.q2_K, x)
        let back = try dequantized(.q2_K, bytes, count: x.count)
        for b in 0..<3 {
            let scales = bytes[84 * b ..< 84 * b + 16]
            XCTAssertEqual(scales.map { $0 & 0xF }.max(), 15, "block \(b)")
            XCTAssertEqual(scales.map { $0 >> 4 }.max(), 15, "block \(b)")
            let d = Float(Float16(bitPattern: UInt16(bytes[84 * b + 80]) | UInt16(bytes[84 * b + 81]) << 8))
            let dmin = Float(Float16(bitPattern: UInt16(bytes[84 * b + 82]) | UInt16(bytes[84 * b + 83]) << 8))
            for j in 0..<16 {
                let sc = scales[84 * b + j], dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                guard dl > 0 else { continue }
                for i in 0..<16 {
                    // The nearest of the sub-block's four levels (codes clamp to 0...3).
                    let e = 256 * b + 16 * j + i
                    let best = (0...3).map { abs(dl * Float($0) - ml - x[e]) }.min()!
                    XCTAssertEqual(abs(back[e] - x[e]), best, accuracy: 1e-6, "block \(b) element \(16 * j + i)")
                }
            }
        }
    }

    func testQ3_KScaleOfLargestMagnitudeIsCodeZeroAndCodesMatchTheScales() throws {
        // ggml's rule: d = −max/32 for the sub-block scale of largest magnitude, so that scale stores
        // as 6-bit code 0 (−32 after the offset) and no code lies outside 0..63; each element's
        // 3-bit code is then the nearest of −4..3 to x / (d·(sc − 32)).
        let x = randomRow(256 * 3, seed: 22, scale: 0.05)
        let bytes = try quantized(.q3_K, x)
        let back = try dequantized(.q3_K, bytes, count: x.count)
        for b in 0..<3 {
            let block = Array(bytes[110 * b ..< 110 * b + 110])
            let six = block.withUnsafeBufferPointer { p in (0..<16).map { scaleQ3K($0, p.baseAddress! + 96) } }
            XCTAssertEqual(six.min(), 0, "block \(b)")
            let d = Float(Float16(bitPattern: UInt16(block[108]) | UInt16(block[109]) << 8))
            for j in 0..<16 {
                let dj = d * Float(six[j] - 32)
                guard dj != 0 else { continue }
                for i in 16 * j ..< 16 * j + 16 {
                    let expected = dj * Float(max(-4, min(3, Int((x[256 * b + i] / dj).rounded(.toNearestOrEven)))))
                    XCTAssertEqual(back[256 * b + i], expected, "block \(b) element \(i)")
                }
            }
        }
    }
}
