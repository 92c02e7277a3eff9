// Fast dot products (AVX2 and the portable fallback) equal the dot product of the dequantized
// weights with the dequantized activations, for every weight type.
import CKernels
import XCTest
@testable import Kernels

final class QuantDotTests: XCTestCase {
    private func paths() -> [QuantizedDot.Path] { QuantizedDot.hasAVX2 ? [.avx2, .scalar] : [.scalar] }

    /// (dot, Σ|w·x|) of dequantized rows in Double.
    private func referenceDot(_ type: GGMLType, _ w: [UInt8], _ x: [UInt8], count n: Int) throws -> (Double, Double) {
        let wf = try dequantized(type, w, count: n)
        let xf = try dequantized(QuantizedDot.activationType(for: type)!, x, count: n)
        var dot = 0.0, mag = 0.0
        for i in 0..<n {
            dot += Double(wf[i]) * Double(xf[i])
            mag += abs(Double(wf[i]) * Double(xf[i]))
        }
        return (dot, mag)
    }

    private func fastDot(_ type: GGMLType, _ w: [UInt8], _ x: [UInt8], count n: Int, path: QuantizedDot.Path) -> Float {
        w.withUnsafeBytes { wp in
            x.withUnsafeBytes { xp in
                QuantizedDot.dot(type, count: n, weights: wp.baseAddress!, activations: xp.baseAddress!, path: path)
            }
        }
    }

    private func sizes(_ type: GGMLType) -> [Int] {
        type.blockSize == 32 ? [32, 96, 32 * 37, 32 * 101] : [256, 256 * 3, 256 * 11]
    }

    /// Q4_1/Q5_1 use Q8_1's half-precision s = d·Σq for the minimum's term, as ggml does; that
    /// rounding is the only difference from the exact product, so their tolerance is wider.
    private func tolerance(_ type: GGMLType, magnitude: Double) -> Double {
        (type == .q4_1 || type == .q5_1 ? 2e-3 : 2e-5) * magnitude + 1e-6
    }

    func testFastDotMatchesDequantizedDotOnQuantizedRows() throws {
        for type in QuantizedDot.supportedTypes {
            for (k, n) in sizes(type).enumerated() {
                let w = try quantized(type, randomRow(n, seed: 100 + UInt64(k), scale: 0.03))
                let x = try quantized(QuantizedDot.activationType(for: type)!, randomRow(n, seed: 200 + UInt64(k)))
                let (ref, mag) = try referenceDot(type, w, x, count: n)
                for path in paths() {
                    let got = Double(fastDot(type, w, x, count: n, path: path))
                    XCTAssertEqual(got, ref, accuracy: tolerance(type, magnitude: mag), "\(type) n=\(n) \(path)")
                }
            }
        }
    }

    func testFastDotMatchesDequantizedDotOnArbitraryCodes() throws {
        // Random block bytes reach every code, including the extremes a quantizer rarely writes
        // (Q8_0's -128, all-ones nibbles and high bits): this is where saturation bugs would show.
        for type in QuantizedDot.supportedTypes {
            for (k, n) in sizes(type).enumerated() {
                let w = randomBlocks(type, count: n, seed: 300 + UInt64(k) + UInt64(type.rawValue) * 10)
                var xf = randomRow(n, seed: 400 + UInt64(k))
                for i in stride(from: 0, to: n, by: 7) { xf[i] = xf[i] < 0 ? -10 : 10 }  // full-scale codes
                let x = try quantized(QuantizedDot.activationType(for: type)!, xf)
                let (ref, mag) = try referenceDot(type, w, x, count: n)
                for path in paths() {
                    let got = Double(fastDot(type, w, x, count: n, path: path))
                    XCTAssertEqual(got, ref, accuracy: tolerance(type, magnitude: mag), "\(type) n=\(n) \(path)")
                }
            }
        }
    }

    func testAVX2AndScalarPathsAgreeClosely() throws {
        try XCTSkipUnless(QuantizedDot.hasAVX2, "no AVX2 on this CPU")
        for type in QuantizedDot.supportedTypes {
            let n = type.blockSize == 32 ? 32 * 53 : 256 * 7
            let w = randomBlocks(type, count: n, seed: 500 + UInt64(type.rawValue))
            let x = try quantized(QuantizedDot.activationType(for: type)!, randomRow(n, seed: 600))
            let (_, mag) = try referenceDot(type, w, x, count: n)
            let a = fastDot(type, w, x, count: n, path: .avx2), s = fastDot(type, w, x, count: n, path: .scalar)
            XCTAssertEqual(Double(a), Double(s), accuracy: 1e-5 * mag, "\(type)")
        }
    }

    func testDotRowsMatchesSingleDots() throws {
        // Q4_0 and Q8_0 rows have their own AVX2 kernels (activation scales prepared once, unsigned
        // nibbles, VNNI where present): check them, with VNNI on and off, against the dequantized dot.
        let vnniChoices: [Int32] = hayai_cpu_has_avx512vnni() != 0 ? [1, 0] : [1]
        defer { hayai_allow_vnni(1) }
        for type in QuantizedDot.supportedTypes {
            let n = type.blockSize * (type.blockSize == 32 ? 45 : 5), rows = 7
            let w = randomBlocks(type, count: n * rows, seed: 700 + UInt64(type.rawValue))
            let x = try quantized(QuantizedDot.activationType(for: type)!, randomRow(n, seed: 701))
            let rowBytes = type.byteCount(elements: n)!
            for path in paths() {
                for vnni in vnniChoices {
                    hayai_allow_vnni(vnni)
                    var y = [Float](repeating: 0, count: rows)
                    w.withUnsafeBytes { wp in
                        x.withUnsafeBytes { xp in
                            QuantizedDot.dotRows(type, count: n, weights: wp.baseAddress!, rowBytes: rowBytes, rows: rows,
                                                 activations: xp.baseAddress!, into: &y, path: path)
                        }
                    }
                    for r in 0..<rows {
                        let row = Array(w[r * rowBytes ..< (r + 1) * rowBytes])
                        let (ref, mag) = try referenceDot(type, row, x, count: n)
                        XCTAssertEqual(Double(y[r]), ref, accuracy: tolerance(type, magnitude: mag), "\(type) row \(r) \(path) vnni \(vnni)")
                    }
                }
            }
        }
    }

    func testDotRowsTokensMatchesDequantizedDots() throws {
        // 6 tokens: one group of 4 through the multi-token kernels, 2 through the single-token path.
        let vnniChoices: [Int32] = hayai_cpu_has_avx512vnni() != 0 ? [1, 0] : [1]
        defer { hayai_allow_vnni(1) }
        for type in [GGMLType.q4_0, .q8_0, .q5_0, .q4_K] {
            let n = type.blockSize == 32 ? 32 * 27 : 256 * 3, rows = 5, tokens = 6
            let w = randomBlocks(type, count: n * rows, seed: 800 + UInt64(type.rawValue))
            let act = QuantizedDot.activationType(for: type)!
            let xs = try (0..<tokens).map { try quantized(act, randomRow(n, seed: 810 + UInt64($0))) }
            let x = xs.flatMap { $0 }
            let rowBytes = type.byteCount(elements: n)!, xBytes = act.byteCount(elements: n)!
            for path in paths() {
                for vnni in vnniChoices {
                    hayai_allow_vnni(vnni)
                    var y = [Float](repeating: .nan, count: tokens * (rows + 1))
                    w.withUnsafeBytes { wp in
                        x.withUnsafeBytes { xp in
                            QuantizedDot.dotRowsTokens(type, count: n, weights: wp.baseAddress!, rowBytes: rowBytes, rows: rows,
                                                       activations: xp.baseAddress!, activationStride: xBytes, tokens: tokens,
                                                       into: &y, ldy: rows + 1, path: path)
                        }
                    }
                    for s in 0..<tokens {
                        for r in 0..<rows {
                            let (ref, mag) = try referenceDot(type, Array(w[r * rowBytes ..< (r + 1) * rowBytes]), xs[s], count: n)
                            XCTAssertEqual(Double(y[s * (rows + 1) + r]), ref, accuracy: tolerance(type, magnitude: mag),
                                           "\(type) token \(s) row \(r) \(path) vnni \(vnni)")
                        }
                        XCTAssertTrue(y[s * (rows + 1) + rows].isNaN, "writes stay within the rows")
                    }
                }
            }
        }
    }
}
