// Each op's backward against central finite differences of its forward, on sizes that are not
// multiples of 8. The objective is f = Σ out·w for a fixed random w (summed in Double), so the
// analytic input gradient is backward(dout = w). Differences are taken in Float32 with a step of
// 1e-2 on values of order one and the step actually represented (x+h − (x−h)) as denominator;
// errors are max|analytic − numeric| / max|numeric| over the checked entries.
import Basics
import XCTest
import Foundation
import Kernels
import Inference
import Checkpoints
@testable import Training

func randomFloats(_ n: Int, seed: UInt64, std: Double = 1) -> [Float] {
    var rng = SeededRandom(seed: seed)
    return (0..<n).map { _ in Float(rng.normal(std: std)) }
}

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

/// Numeric ∂f/∂x[i] for every i (or `indices`), by central differences.
func numericGradient(_ x: inout [Float], h: Float = 1e-2, indices: [Int]? = nil, _ f: ([Float]) -> Double) -> [Int: Float] {
    var out: [Int: Float] = [:]
    for i in indices ?? Array(x.indices) {
        let saved = x[i]
        x[i] = saved + h; let up = x[i]; let fp = f(x)
        x[i] = saved - h; let down = x[i]; let fm = f(x)
        x[i] = saved
        out[i] = Float((fp - fm) / (Double(up) - Double(down)))
    }
    return out
}

func assertGradient(_ analytic: [Float], _ numeric: [Int: Float], tolerance: Float = 1e-3, _ label: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    var diff: Float = 0, scale: Float = 0
    for (i, n) in numeric { diff = max(diff, abs(analytic[i] - n)); scale = max(scale, abs(n)) }
    XCTAssertGreaterThan(scale, 0, "\(label): numeric gradient is all zero", file: file, line: line)
    XCTAssertLessThan(diff / max(scale, 1e-12), tolerance, "\(label): max diff \(diff), scale \(scale)", file: file, line: line)
}

final class FiniteDifferenceTests: XCTestCase {
    func testLinearForwardMatchesReferenceAndBackwardMatchesFiniteDifferences() {
        let t = 7, inF = 11, outF = 9
        var x = randomFloats(t * inF, seed: 1), w = randomFloats(outF * inF, seed: 2, std: 0.5), b = randomFloats(outF, seed: 3)
        let dout = randomFloats(t * outF, seed: 4)
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: t * outF)
            LinearLayer.forward(x, t: t, weight: w, bias: b, inFeatures: inF, outFeatures: outF, into: &y)
            return y
        }
        // Plain reference: y[r, o] = Σ_i x[r, i]·w[o, i] + b[o]
        let y = forward(x, w, b)
        for r in 0..<t {
            for o in 0..<outF {
                var s: Double = Double(b[o])
                for i in 0..<inF { s += Double(x[r * inF + i]) * Double(w[o * inF + i]) }
                XCTAssertEqual(y[r * outF + o], Float(s), accuracy: 1e-5)
            }
        }
        var dx = [Float](repeating: 0, count: t * inF), dw = [Float](repeating: 0, count: outF * inF), db = [Float](repeating: 0, count: outF)
        LinearLayer.backward(dy: dout, x: x, t: t, weight: w, inFeatures: inF, outFeatures: outF, dx: &dx, dweight: &dw, dbias: &db)
        assertGradient(dx, numericGradient(&x) { dot(forward($0, w, b), dout) }, "linear dx")
        assertGradient(dw, numericGradient(&w) { dot(forward(x, $0, b), dout) }, "linear dw")
        assertGradient(db, numericGradient(&b) { dot(forward(x, w, $0), dout) }, "linear db")
    }

    func testLayerNormMatchesOpsAndFiniteDifferences() {
        let t = 5, c = 13
        var x = randomFloats(t * c, seed: 5), w = randomFloats(c, seed: 6).map { 1 + 0.3 * $0 }, b = randomFloats(c, seed: 7)
        let dout = randomFloats(t * c, seed: 8)
        var mean = [Float](repeating: 0, count: t), rstd = mean
        func forward(_ x: [Float], _ w: [Float], _ b: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: t * c), m = [Float](repeating: 0, count: t), r = m
            LayerNorm.forward(x, t: t, c: c, weight: w, bias: b, eps: 1e-5, into: &y, mean: &m, rstd: &r)
            return y
        }
        var reference = [Float](repeating: 0, count: t * c)
        Ops.layerNorm(x, t: t, c: c, weight: w, bias: b, eps: 1e-5, into: &reference)
        XCTAssertEqual(forward(x, w, b), reference)
        var y = [Float](repeating: 0, count: t * c)
        LayerNorm.forward(x, t: t, c: c, weight: w, bias: b, eps: 1e-5, into: &y, mean: &mean, rstd: &rstd)
        var dx = [Float](repeating: 0, count: t * c), dw = [Float](repeating: 0, count: c), db = dw
        LayerNorm.backward(dout: dout, x: x, mean: mean, rstd: rstd, t: t, c: c, weight: w, dx: &dx, dweight: &dw, dbias: &db)
        assertGradient(dx, numericGradient(&x, h: 3e-3) { dot(forward($0, w, b), dout) }, "layerNorm dx")
        assertGradient(dw, numericGradient(&w) { dot(forward(x, $0, b), dout) }, "layerNorm dw")
        assertGradient(db, numericGradient(&b) { dot(forward(x, w, $0), dout) }, "layerNorm db")
    }

    func testRMSNormMatchesOpsAndFiniteDifferences() {
        let t = 6, c = 11
        var x = randomFloats(t * c, seed: 9), w = randomFloats(c, seed: 10).map { 1 + 0.3 * $0 }
        let dout = randomFloats(t * c, seed: 11)
        func forward(_ x: [Float], _ w: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: t * c), r = [Float](repeating: 0, count: t)
            RMSNorm.forward(x, t: t, c: c, weight: w, eps: 1e-6, into: &y, rstd: &r)
            return y
        }
        var reference = [Float](repeating: 0, count: t * c)
        Ops.rmsNorm(x, t: t, c: c, weight: w, eps: 1e-6, into: &reference)
        XCTAssertEqual(forward(x, w), reference)
        var y = [Float](repeating: 0, count: t * c), rstd = [Float](repeating: 0, count: t)
        RMSNorm.forward(x, t: t, c: c, weight: w, eps: 1e-6, into: &y, rstd: &rstd)
        var dx = [Float](repeating: 0, count: t * c), dw = [Float](repeating: 0, count: c)
        RMSNorm.backward(dout: dout, x: x, rstd: rstd, t: t, c: c, weight: w, dx: &dx, dweight: &dw)
        assertGradient(dx, numericGradient(&x, h: 3e-3) { dot(forward($0, w), dout) }, "rmsNorm dx")
        assertGradient(dw, numericGradient(&w) { dot(forward(x, $0), dout) }, "rmsNorm dw")
    }

    /// Both pairings (HF's halves and ggml's adjacent pairs, which llama GGUF files need).
    func testPartialRotaryBackwardMatchesFiniteDifferences() {
        let batch = 2, seqLen = 5, heads = 3, headDim = 6, rotaryDim = 4, rows = batch * seqLen
        let (cos, sin) = Ops.ropeTables(positions: seqLen, rotaryDim: rotaryDim, theta: 10000)
        let positions = RowPositions.perSequence(seqLen: seqLen, packed: nil)
        for pairing in [RopeStyle.halves, .adjacent] {
            var x = randomFloats(rows * heads * headDim, seed: 12)
            let dout = randomFloats(x.count, seed: 13)
            func forward(_ x: [Float]) -> [Float] {
                var y = x
                Rotary.forward(&y, rows: rows, heads: heads, headDim: headDim, rotaryDim: rotaryDim, pairing: pairing, cos: cos, sin: sin,
                               positions: positions)
                return y
            }
            // Dimensions past rotaryDim pass through; rotated pairs keep their norm.
            let y = forward(x)
            for r in 0..<rows {
                for h in 0..<heads {
                    let base = (r * heads + h) * headDim
                    for i in rotaryDim..<headDim { XCTAssertEqual(y[base + i], x[base + i]) }
                    for i in 0..<rotaryDim / 2 {
                        let (a, b) = pairing == .adjacent ? (base + 2 * i, base + 2 * i + 1) : (base + i, base + i + rotaryDim / 2)
                        let before: Float = x[a] * x[a] + x[b] * x[b]
                        let after: Float = y[a] * y[a] + y[b] * y[b]
                        XCTAssertEqual(before, after, accuracy: 1e-4)
                    }
                }
            }
            var dx = dout
            Rotary.backward(&dx, rows: rows, heads: heads, headDim: headDim, rotaryDim: rotaryDim, pairing: pairing, cos: cos, sin: sin,
                            positions: positions)
            assertGradient(dx, numericGradient(&x) { dot(forward($0), dout) }, "rotary dx (\(pairing))")
        }
    }

    func testGroupedQueryAttentionMatchesReferenceAndFiniteDifferences() {
        for window in [nil, 3] as [Int?] { checkGroupedQueryAttention(window: window) }
    }

    /// `window`: Mistral's sliding window (keys j > i − window).
    func checkGroupedQueryAttention(window: Int?) {
        let batch = 2, t = 5, heads = 6, kvHeads = 2, d = 5
        let qDim = heads * d, kvDim = kvHeads * d
        var q = randomFloats(batch * t * qDim, seed: 14), k = randomFloats(batch * t * kvDim, seed: 15)
        var v = randomFloats(batch * t * kvDim, seed: 16)
        let dout = randomFloats(batch * t * qDim, seed: 17)
        var saved = [Float](repeating: 0, count: CausalAttention.savedFloats(batch: batch, seqLen: t, heads: heads, headDim: d))
        var scratch = [Float](repeating: 0, count: CausalAttention.scratchFloats(seqLen: t, headDim: d, threads: 1))
        func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: batch * t * qDim), l = saved
            CausalAttention.forward(q: q, k: k, v: v, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads, headDim: d, saved: &l, out: &out,
                                    scratch: &scratch, window: window)
            return out
        }
        // Plain reference, one query at a time in Double.
        let out = forward(q, k, v)
        for b in 0..<batch {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads)
                for i in 0..<t {
                    let first = window.map { max(0, i - $0 + 1) } ?? 0
                    var scores = [Double](repeating: -.infinity, count: i + 1)
                    for j in first...i {
                        var s: Double = 0
                        for e in 0..<d { s += Double(q[(b * t + i) * qDim + h * d + e]) * Double(k[(b * t + j) * kvDim + kvh * d + e]) }
                        scores[j] = s / Double(d).squareRoot()
                    }
                    let m = scores.max()!, z = scores.reduce(0) { $0 + exp($1 - m) }
                    for e in 0..<d {
                        var o: Double = 0
                        for j in first...i { o += exp(scores[j] - m) / z * Double(v[(b * t + j) * kvDim + kvh * d + e]) }
                        XCTAssertEqual(out[(b * t + i) * qDim + h * d + e], Float(o), accuracy: 1e-5)
                    }
                }
            }
        }
        var o = [Float](repeating: 0, count: batch * t * qDim)
        CausalAttention.forward(q: q, k: k, v: v, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads, headDim: d, saved: &saved, out: &o,
                                scratch: &scratch, window: window)
        var dq = [Float](repeating: 0, count: q.count), dk = [Float](repeating: 0, count: k.count), dv = dk
        CausalAttention.backward(dout: dout, q: q, k: k, v: v, out: o, saved: saved, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads,
                                 headDim: d, dq: &dq, dk: &dk, dv: &dv, scratch: &scratch, window: window)
        assertGradient(dq, numericGradient(&q) { dot(forward($0, k, v), dout) }, "attention dq")
        assertGradient(dk, numericGradient(&k) { dot(forward(q, $0, v), dout) }, "attention dk (GQA)")
        assertGradient(dv, numericGradient(&v) { dot(forward(q, k, $0), dout) }, "attention dv (GQA)")
    }

    func testGatedSiLUAndGELUBackwardsMatchFiniteDifferences() {
        let n = 29
        var gate = randomFloats(n, seed: 18, std: 2), up = randomFloats(n, seed: 19, std: 2)
        let dout = randomFloats(n, seed: 20)
        func silu(_ g: [Float], _ u: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: n); GatedSiLU.forward(gate: g, up: u, n: n, into: &y); return y
        }
        var dgate = [Float](repeating: 0, count: n), dup = dgate
        GatedSiLU.backward(dout: dout, gate: gate, up: up, n: n, dgate: &dgate, dup: &dup)
        assertGradient(dgate, numericGradient(&gate, h: 3e-3) { dot(silu($0, up), dout) }, "gated silu dgate")
        assertGradient(dup, numericGradient(&up) { dot(silu(gate, $0), dout) }, "gated silu dup")
        for tanh in [false, true] {
            var x = randomFloats(n, seed: 21, std: 2)
            func gelu(_ x: [Float]) -> [Float] { var y = [Float](repeating: 0, count: n); GELU.forward(x, n: n, tanh: tanh, into: &y); return y }
            var dx = [Float](repeating: 0, count: n)
            GELU.backward(dout: dout, x: x, n: n, tanh: tanh, dx: &dx)
            assertGradient(dx, numericGradient(&x, h: 3e-3) { dot(gelu($0), dout) }, "gelu (tanh: \(tanh)) dx")
        }
    }

    func testCrossEntropyWithIgnoredTargetsMatchesFiniteDifferences() {
        let n = 7, vocab = 11
        var logits = randomFloats(n * vocab, seed: 22, std: 2)
        let targets: [Int32] = [3, -1, 10, 0, -1, 5, 7]
        var lse = [Float](repeating: 0, count: n)
        func meanLoss(_ x: [Float]) -> Double {
            var l = [Float](repeating: 0, count: n)
            let (sum, count) = CrossEntropy.forward(logits: x, targets: targets, n: n, vocab: vocab, lse: &l)
            return sum / Double(count)
        }
        // Plain reference: −log softmax(x)[target], averaged over the 5 scored rows.
        var reference: Double = 0
        for r in 0..<n where targets[r] >= 0 {
            let row = logits[r * vocab..<(r + 1) * vocab].map(Double.init)
            let m = row.max()!
            reference += m + log(row.reduce(0) { $0 + exp($1 - m) }) - row[Int(targets[r])]
        }
        XCTAssertEqual(meanLoss(logits), reference / 5, accuracy: 1e-5)
        let (_, count) = CrossEntropy.forward(logits: logits, targets: targets, n: n, vocab: vocab, lse: &lse)
        XCTAssertEqual(count, 5)
        var grad = logits
        CrossEntropy.backward(logits: &grad, targets: targets, lse: lse, n: n, vocab: vocab, scale: 1 / Float(count))
        for r in [1, 4] { XCTAssertEqual(Array(grad[r * vocab..<(r + 1) * vocab]), [Float](repeating: 0, count: vocab)) }
        assertGradient(grad, numericGradient(&logits) { meanLoss($0) }, "cross-entropy dlogits")
    }

    func testEmbeddingBackwardAddsEveryOccurrence() {
        let c = 3
        let ids: [Int32] = [2, 0, 2]
        let dout: [Float] = [1, 2, 3, 4, 5, 6, 10, 20, 30]
        var dtable = [Float](repeating: 0, count: 4 * c)
        Embedding.backward(ids: ids, n: 3, dout: dout, c: c, dtable: &dtable)
        XCTAssertEqual(dtable, [4, 5, 6, 0, 0, 0, 11, 22, 33, 0, 0, 0])
    }
}
