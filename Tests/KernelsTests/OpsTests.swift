// The decoder's row ops and the BLAS wrappers against plain Double references, on random inputs of
// awkward sizes (not multiples of 8 or 32), so a vectorised or BLAS path cannot hide an edge bug.
import Foundation
import XCTest
@testable import Kernels

/// Deterministic pseudo-random numbers (SplitMix64), so failures reproduce.
private struct Random {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [lo, hi).
    mutating func float(_ lo: Float = -1, _ hi: Float = 1) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
    mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }
}

private func assertClose(_ actual: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    var worst = 0.0, at = 0
    for i in 0..<min(actual.count, expected.count) {
        let err = abs(Double(actual[i]) - expected[i]) / max(1, abs(expected[i]))
        if !(err <= worst) { worst = err; at = i }
    }
    XCTAssertLessThanOrEqual(worst, tolerance, "\(what): worst relative error at \(at): \(actual.isEmpty ? 0 : actual[at]) vs \(expected.isEmpty ? 0 : expected[at])",
                             file: file, line: line)
}

final class OpsTests: XCTestCase {
    // MARK: norms

    func layerNormReference(_ x: [Float], t: Int, c: Int, weight: [Float]?, bias: [Float]?, eps: Double) -> [Double] {
        var out: [Double] = []
        for r in 0..<t {
            let row = x[(r * c)..<((r + 1) * c)].map(Double.init)
            let mean = row.reduce(0, +) / Double(c)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c)
            for i in 0..<c {
                var v = (row[i] - mean) / (variance + eps).squareRoot()
                if let weight { v *= Double(weight[i]) }
                if let bias { v += Double(bias[i]) }
                out.append(v)
            }
        }
        return out
    }

    func testLayerNormMatchesReferenceOnOddSizes() {
        var rng = Random(1)
        for (t, c) in [(1, 67), (3, 131), (5, 1), (2, 257)] {
            let x = rng.floats(t * c, -3, 5), w = rng.floats(c, 0.5, 1.5), b = rng.floats(c)
            var out = [Float](repeating: .nan, count: t * c)
            Ops.layerNorm(x, t: t, c: c, weight: w, bias: b, eps: 1e-5, into: &out)
            assertClose(out, layerNormReference(x, t: t, c: c, weight: w, bias: b, eps: 1e-5), tolerance: 2e-5, "layerNorm \(t)x\(c)")
            Ops.layerNorm(x, t: t, c: c, weight: nil, bias: nil, eps: 1e-5, into: &out)
            assertClose(out, layerNormReference(x, t: t, c: c, weight: nil, bias: nil, eps: 1e-5), tolerance: 2e-5, "layerNorm no affine \(t)x\(c)")
        }
    }

    func testLayerNormInPlace() {
        var rng = Random(2)
        let x = rng.floats(2 * 67), w = rng.floats(67), b = rng.floats(67)
        var inPlace = x
        inPlace.withUnsafeMutableBufferPointer { p in
            Ops.layerNorm(p.baseAddress!, t: 2, c: 67, weight: w, bias: b, eps: 1e-5, into: p.baseAddress!)
        }
        assertClose(inPlace, layerNormReference(x, t: 2, c: 67, weight: w, bias: b, eps: 1e-5), tolerance: 2e-5, "in place")
    }

    func testRMSNormMatchesReferenceOnOddSizes() {
        var rng = Random(3)
        for (t, c) in [(1, 67), (4, 131), (3, 1)] {
            let x = rng.floats(t * c, -2, 2), w = rng.floats(c, 0.5, 1.5)
            var out = [Float](repeating: .nan, count: t * c)
            Ops.rmsNorm(x, t: t, c: c, weight: w, eps: 1e-6, into: &out)
            var expected: [Double] = []
            for r in 0..<t {
                let row = x[(r * c)..<((r + 1) * c)].map(Double.init)
                let scale = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(c) + 1e-6).squareRoot()
                for i in 0..<c { expected.append(row[i] * scale * Double(w[i])) }
            }
            assertClose(out, expected, tolerance: 2e-5, "rmsNorm \(t)x\(c)")
        }
    }

    // MARK: softmax

    func softmaxReference(_ x: [Float]) -> [Double] {
        let m = Double(x.max()!)
        let e = x.map { exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testSoftmaxMatchesReferenceOnOddSizesAndLargeLogits() {
        var rng = Random(4)
        for (n, scale) in [(67, Float(1)), (131, 10), (1, 1), (257, 1000)] {
            // Logits up to ±1000 overflow expf unless the maximum is subtracted first.
            let x = rng.floats(n, -scale, scale)
            var out = x
            Ops.softmax(&out, n: n)
            assertClose(out, softmaxReference(x), tolerance: 1e-5, "softmax \(n)")
            XCTAssertEqual(Double(out.reduce(0, +)), 1, accuracy: 1e-5)
        }
        var withMasked: [Float] = [1, -.infinity, 2, -.infinity, 0.5]
        Ops.softmax(&withMasked, n: 5)
        XCTAssertEqual(withMasked[1], 0)
        XCTAssertEqual(withMasked[3], 0)
        assertClose(withMasked, softmaxReference([1, -.infinity, 2, -.infinity, 0.5]), tolerance: 1e-6, "masked")
    }

    func testLogSoftmaxMatchesReferenceAndReturnsLogPartition() {
        var rng = Random(5)
        for n in [67, 131, 1, 2000] {
            let x = rng.floats(n, -20, 20)
            var out = [Float](repeating: .nan, count: n)
            let lse = Ops.logSoftmax(x, n: n, into: &out)
            let m = Double(x.max()!)
            let expectedLSE = m + log(x.map { exp(Double($0) - m) }.reduce(0, +))
            XCTAssertEqual(Double(lse), expectedLSE, accuracy: 1e-5 * max(1, abs(expectedLSE)), "lse \(n)")
            assertClose(out, x.map { Double($0) - expectedLSE }, tolerance: 2e-5, "logSoftmax \(n)")
        }
    }

    // MARK: activations

    func testActivationsMatchReference() {
        var rng = Random(6)
        var xs = rng.floats(131, -8, 8)
        xs += [0, -0.0, 1e-7, -1e-7, 20, -20, 80, -80, 100, -100]
        for x in xs {
            let d = Double(x)
            let silu = d / (1 + exp(-d))
            let gelu = 0.5 * d * (1 + erf(d / 2.0.squareRoot()))
            let geluTanh = 0.5 * d * (1 + tanh((2 / Double.pi).squareRoot() * (d + 0.044715 * d * d * d)))
            XCTAssertEqual(Double(Ops.silu(x)), silu, accuracy: 1e-6 * max(1, abs(silu)), "silu(\(x))")
            XCTAssertEqual(Double(Ops.gelu(x)), gelu, accuracy: 1e-6 * max(1, abs(gelu)), "gelu(\(x))")
            XCTAssertEqual(Double(Ops.geluTanh(x)), geluTanh, accuracy: 1e-6 * max(1, abs(geluTanh)), "geluTanh(\(x))")
            XCTAssertFalse(Ops.silu(x).isNaN || Ops.gelu(x).isNaN || Ops.geluTanh(x).isNaN, "\(x)")
        }
    }

    // MARK: RoPE

    func testRopeTablesMatchReference() {
        for (rotaryDim, theta) in [(16, Float(10000)), (6, 500000), (2, 10000)] {
            let positions = 67
            let (cosT, sinT) = Ops.ropeTables(positions: positions, rotaryDim: rotaryDim, theta: theta)
            let half = rotaryDim / 2
            var expectedCos: [Double] = [], expectedSin: [Double] = []
            for p in 0..<positions {
                for i in 0..<half {
                    let angle = Double(p) * pow(Double(theta), -Double(2 * i) / Double(rotaryDim))
                    expectedCos.append(cos(angle))
                    expectedSin.append(sin(angle))
                }
            }
            // The angle is formed in float32 as HF does, so large positions carry ~1e-5 of rounding.
            assertClose(cosT, expectedCos, tolerance: 5e-5, "cos d=\(rotaryDim)")
            assertClose(sinT, expectedSin, tolerance: 5e-5, "sin d=\(rotaryDim)")
        }
    }

    /// HF's formula, written out: q·cos + rotate_half(q)·sin over the rotary part, with cos/sin repeated twice.
    func ropeHalvesReference(_ x: [Float], heads: Int, headDim: Int, rotaryDim: Int, cos c: [Float], sin s: [Float]) -> [Double] {
        var out = x.map(Double.init)
        let half = rotaryDim / 2
        for h in 0..<heads {
            let base = h * headDim
            let v = (0..<rotaryDim).map { Double(x[base + $0]) }
            for j in 0..<rotaryDim {
                let cosFull = Double(c[j % half]), sinFull = Double(s[j % half])
                let rotated = j < half ? -v[j + half] : v[j - half]
                out[base + j] = v[j] * cosFull + rotated * sinFull
            }
        }
        return out
    }

    /// ggml's NORM mode: element pairs (2i, 2i+1) rotated by angle i.
    func ropeAdjacentReference(_ x: [Float], heads: Int, headDim: Int, rotaryDim: Int, cos c: [Float], sin s: [Float]) -> [Double] {
        var out = x.map(Double.init)
        for h in 0..<heads {
            let base = h * headDim
            for i in 0..<(rotaryDim / 2) {
                let x0 = Double(x[base + 2 * i]), x1 = Double(x[base + 2 * i + 1])
                out[base + 2 * i] = x0 * Double(c[i]) - x1 * Double(s[i])
                out[base + 2 * i + 1] = x0 * Double(s[i]) + x1 * Double(c[i])
            }
        }
        return out
    }

    func testRopeBothPairingsMatchReferenceWithPartialRotary() {
        var rng = Random(7)
        for (heads, headDim, rotaryDim) in [(3, 22, 22), (5, 20, 8), (1, 2, 2), (7, 67 + 1, 34), (2, 16, 0)] {
            let (cosT, sinT) = Ops.ropeTables(positions: 131, rotaryDim: max(rotaryDim, 2), theta: 10000)
            let half = max(rotaryDim, 2) / 2
            for position in [0, 1, 130] {
                let c = Array(cosT[(position * half)..<((position + 1) * half)]), s = Array(sinT[(position * half)..<((position + 1) * half)])
                let x = rng.floats(heads * headDim, -2, 2)
                for adjacent in [false, true] {
                    var out = x
                    Ops.rope(&out, heads: heads, headDim: headDim, rotaryDim: rotaryDim, cos: c, sin: s, adjacentPairs: adjacent)
                    let expected = adjacent
                        ? ropeAdjacentReference(x, heads: heads, headDim: headDim, rotaryDim: rotaryDim, cos: c, sin: s)
                        : ropeHalvesReference(x, heads: heads, headDim: headDim, rotaryDim: rotaryDim, cos: c, sin: s)
                    assertClose(out, expected, tolerance: 1e-6, "rope heads=\(heads) headDim=\(headDim) rotary=\(rotaryDim) pos=\(position) adjacent=\(adjacent)")
                    // Dimensions past the rotary part pass through untouched.
                    for h in 0..<heads { for j in rotaryDim..<headDim { XCTAssertEqual(out[h * headDim + j], x[h * headDim + j]) } }
                    if position == 0 { XCTAssertEqual(out, x, "position 0 is the identity") }
                }
            }
        }
    }

    // MARK: BLAS

    /// y (t, out) = x (t, in) · wᵀ (+ y0), in Double.
    func linearReference(_ x: [Float], t: Int, _ w: [Float], inFeatures: Int, outFeatures: Int, y0: [Float]?) -> [Double] {
        var y = [Double](repeating: 0, count: t * outFeatures)
        for r in 0..<t {
            for o in 0..<outFeatures {
                var sum = y0.map { Double($0[r * outFeatures + o]) } ?? 0
                for i in 0..<inFeatures { sum += Double(x[r * inFeatures + i]) * Double(w[o * inFeatures + i]) }
                y[r * outFeatures + o] = sum
            }
        }
        return y
    }

    func testLinearMatchesNaiveLoopForOneAndManyRows() {
        var rng = Random(8)
        for (t, inFeatures, outFeatures) in [(1, 67, 131), (5, 67, 131), (1, 1, 3), (7, 131, 1), (3, 257, 67)] {
            let x = rng.floats(t * inFeatures), w = rng.floats(outFeatures * inFeatures)
            var y = [Float](repeating: .nan, count: t * outFeatures)
            BLAS.linear(x, t: t, w, inFeatures: inFeatures, outFeatures: outFeatures, into: &y)
            assertClose(y, linearReference(x, t: t, w, inFeatures: inFeatures, outFeatures: outFeatures, y0: nil), tolerance: 1e-5,
                        "linear t=\(t) \(inFeatures)->\(outFeatures)")
            let y0 = rng.floats(t * outFeatures)
            var acc = y0
            BLAS.linear(x, t: t, w, inFeatures: inFeatures, outFeatures: outFeatures, into: &acc, accumulate: true)
            assertClose(acc, linearReference(x, t: t, w, inFeatures: inFeatures, outFeatures: outFeatures, y0: y0), tolerance: 1e-5,
                        "linear accumulate t=\(t) \(inFeatures)->\(outFeatures)")
        }
    }

    func testGemmMatchesNaiveLoopForEveryTransposeWithPaddedLeadingDimensions() {
        var rng = Random(9)
        let (m, n, k) = (7, 13, 67)
        for transA in [false, true] {
            for transB in [false, true] {
                // Stored shapes: A is (m, k) or (k, m); B is (k, n) or (n, k); rows padded by 3.
                let aRows = transA ? k : m, aCols = transA ? m : k, lda = aCols + 3
                let bRows = transB ? n : k, bCols = transB ? k : n, ldb = bCols + 3
                let ldc = n + 2
                let a = rng.floats(aRows * lda), b = rng.floats(bRows * ldb)
                let c0 = rng.floats(m * ldc)
                let alpha: Float = 0.75, beta: Float = -1.5
                var c = c0
                BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                          beta: beta, c: &c, ldc: ldc)
                var reference = c0
                GEMM.reference(precision: .f32, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                               b: b, ldb: ldb, beta: beta, c: &reference, ldc: ldc)
                let expected = reference.map(Double.init)
                // The padding columns of C are left alone.
                assertClose(c, expected, tolerance: 1e-5, "gemm transA=\(transA) transB=\(transB)")
            }
        }
    }
}
