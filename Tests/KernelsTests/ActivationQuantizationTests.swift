// The AVX2 and AVX-512 activation quantizers (CKernels/quant_act.c) against the scalar references
// quantizeBlockQ8_0 / Q8_1 / Q8_K, byte for byte: random rows of several magnitudes, exact ties for
// both rounding rules (half away from zero for Q8_0/Q8_1, half to even for Q8_K), blocks of zeros,
// NaN, ±infinity, the largest magnitude on both signs, and subnormals.
import XCTest
import CKernels
import Basics
@testable import Kernels

final class ActivationQuantizationTests: XCTestCase {
    /// Rows of `blocks` blocks of 256 (so also whole Q8_0 blocks), each block of a different kind.
    func rows(seed: UInt64) -> [Float] {
        var rng = SeededRandom(seed: seed)
        var x: [Float] = []
        let kinds = 9
        for b in 0..<3 * kinds {
            var block = (0..<256).map { _ in Float.random(in: -1...1, using: &rng) }
            switch b % kinds {
            case 0: break
            case 1: block = block.map { $0 * 3e4 }
            case 2: block = block.map { $0 * 1e-3 }
            case 3:
                // Ties: largest magnitude 127 makes d = 1 (Q8_0) and iscale = ±1 (Q8_K), so k + 0.5 stays a tie.
                block = block.map { (($0 * 100).rounded() + 0.5) }
                block[5] = 127; block[37] = -127; block[200] = 127
            case 4: block = [Float](repeating: 0, count: 256)
            case 5: block[Int.random(in: 0..<256, using: &rng)] = .nan
            case 6: block[Int.random(in: 0..<256, using: &rng)] = .infinity
            case 7: block[Int.random(in: 0..<256, using: &rng)] = -.infinity; block[3] = -Float.greatestFiniteMagnitude
            default: block = block.map { $0 * 1e-40 }   // subnormal
            }
            if b % kinds == 3, b >= kinds { block[37] = 127.0; block[5] = -127 }   // the first of ±max on the other sign
            x += block
        }
        return x
    }

    func check(_ act: GGMLType, fast: (UnsafePointer<Float>, UnsafeMutableRawPointer, Int32) -> Void,
               reference: (UnsafePointer<Float>, UnsafeMutableRawPointer) -> Void) {
        // Whole rows, and for the 32-element types rows 3, 13 and 55 blocks shorter (the quantizers take 8
        // blocks at a time, then the rest; 55 leaves 1).
        for seed: UInt64 in [1, 2, 3] {
            for short in act.blockSize == 32 ? [0, 3, 13, 55] : [0] {
                let x = Array(rows(seed: seed).dropLast(short * 32)), n = x.count
                let bytes = act.byteCount(elements: n)!
                var got = [UInt8](repeating: 0xAA, count: bytes), want = [UInt8](repeating: 0x55, count: bytes)
                x.withUnsafeBufferPointer { xb in
                    got.withUnsafeMutableBytes { fast(xb.baseAddress!, $0.baseAddress!, Int32(n)) }
                    want.withUnsafeMutableBytes { w in
                        for b in 0..<n / act.blockSize {
                            reference(xb.baseAddress! + b * act.blockSize, w.baseAddress! + b * act.bytesPerBlock)
                        }
                    }
                }
                let firstDifference = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                XCTAssertNil(firstDifference, "\(act) seed \(seed), \(n) values: first differing byte \(firstDifference ?? -1) (block \((firstDifference ?? 0) / act.bytesPerBlock))")
            }
        }
    }

    func testAVX2QuantizersWriteTheScalarReferencesBytes() {
        check(.q8_0, fast: { hayai_quantize_row_q8_0_avx2($0, $1, $2) }, reference: { quantizeBlockQ8_0($0, $1) })
        check(.q8_1, fast: { hayai_quantize_row_q8_1_avx2($0, $1, $2) }, reference: { quantizeBlockQ8_1($0, $1) })
        check(.q8_K, fast: { hayai_quantize_row_q8_K_avx2($0, $1, $2) }, reference: { quantizeBlockQ8_K($0, $1) })
    }

    func testAVX512QuantizersWriteTheScalarReferencesBytes() throws {
        try XCTSkipUnless(hayai_x16_available() != 0, "no AVX-512 on this CPU")
        check(.q8_0, fast: { hayai_quantize_row_q8_0_avx512($0, $1, $2) }, reference: { quantizeBlockQ8_0($0, $1) })
        check(.q8_1, fast: { hayai_quantize_row_q8_1_avx512($0, $1, $2) }, reference: { quantizeBlockQ8_1($0, $1) })
        check(.q8_K, fast: { hayai_quantize_row_q8_K_avx512($0, $1, $2) }, reference: { quantizeBlockQ8_K($0, $1) })
    }

    /// What the products call (the AVX-512 path where the CPU has it) writes the same bytes.
    func testDispatchedQuantizersWriteTheScalarReferencesBytes() {
        check(.q8_0, fast: { hayai_quantize_row_q8_0($0, $1, $2) }, reference: { quantizeBlockQ8_0($0, $1) })
        check(.q8_1, fast: { hayai_quantize_row_q8_1($0, $1, $2) }, reference: { quantizeBlockQ8_1($0, $1) })
        check(.q8_K, fast: { hayai_quantize_row_q8_K($0, $1, $2) }, reference: { quantizeBlockQ8_K($0, $1) })
    }

    /// The ties really are ties, and the two rules really differ on them (else the test above could not tell).
    func testTieRowsExerciseBothRoundingRules() {
        var x = [Float](repeating: 2.5, count: 256)
        x[0] = -127
        var q8_0 = [UInt8](repeating: 0, count: 8 * 34), q8_K = [UInt8](repeating: 0, count: 292)
        x.withUnsafeBufferPointer { xb in
            q8_0.withUnsafeMutableBytes { hayai_quantize_row_q8_0(xb.baseAddress!, $0.baseAddress!, 256) }
            q8_K.withUnsafeMutableBytes { hayai_quantize_row_q8_K(xb.baseAddress!, $0.baseAddress!, 256) }
        }
        XCTAssertEqual(Int8(bitPattern: q8_0[2 + 1]), 3)    // 2.5 away from zero
        XCTAssertEqual(Int8(bitPattern: q8_K[4 + 1]), 2)    // iscale = −127 / m = 1 (m = −127): 2.5 to even
    }
}
