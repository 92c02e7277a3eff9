// The training step's C row ops (cross-entropy's rows, softmax's backward, the gated SiLU and its
// backward) and the optimizer's passes (AdamW, sum of squares, scale) against plain Swift, on awkward
// sizes (not multiples of 8 or 16). AdamW must match its scalar formula bit for bit: resume and the
// PyTorch fixtures rely on the exact rounding.
import Foundation
import XCTest
import Kernels

final class TrainingOpsTests: XCTestCase {
    let sizes = [1, 7, 8, 17, 100, 4099]

    func testLogSumExpAndTheSoftmaxFromItMatchThePlainFormula() {
        for n in sizes {
            let x = randomRow(n, seed: UInt64(n), scale: 12)
            let m = x.max()!
            let plain = m + Float(log(x.reduce(0.0) { $0 + Double(expf($1 - m)) }))
            let lse = FastOps.logSumExp(x, n: n)
            XCTAssertEqual(lse, plain, accuracy: 2e-6 * max(1, abs(plain)), "logSumExp \(n)")
            var fast = x
            FastOps.softmax(&fast, n: n, logSumExp: lse, scale: 0.25)
            let reference = x.map { expf($0 - lse) * 0.25 }
            for i in 0..<n { XCTAssertEqual(fast[i], reference[i], accuracy: 1e-6 * max(reference[i], 1e-3), "softmax \(n) at \(i)") }
            XCTAssertEqual(fast.reduce(0, +), 0.25, accuracy: 1e-5, "softmax \(n) sums to the scale")
        }
    }

    func testSoftmaxBackwardMatchesThePlainFormula() {
        for n in sizes {
            var p = randomRow(n, seed: UInt64(n) + 1, scale: 4)
            Ops.softmax(&p, n: n)
            let d = randomRow(n, seed: UInt64(n) + 2)
            let dot = zip(p, d).reduce(Float(0)) { $0 + $1.0 * $1.1 }
            let reference = (0..<n).map { p[$0] * (d[$0] - dot) }
            var fast = d
            FastOps.softmaxBackward(probs: p, gradient: &fast, n: n)
            for i in 0..<n { XCTAssertEqual(fast[i], reference[i], accuracy: 1e-6, "softmax backward \(n) at \(i)") }
        }
    }

    func testGatedSiLUAndItsBackwardMatchThePlainFormula() {
        for n in sizes {
            let gate = randomRow(n, seed: UInt64(n) + 3, scale: 10), up = randomRow(n, seed: UInt64(n) + 4), dout = randomRow(n, seed: UInt64(n) + 5)
            var out = [Float](repeating: .nan, count: n)
            FastOps.siluMul(gate: gate, up: up, into: &out, count: n)
            var dgate = out, dup = out
            FastOps.siluMulBackward(dout: dout, gate: gate, up: up, dgate: &dgate, dup: &dup, count: n)
            for i in 0..<n {
                let x = gate[i], s = 1 / (1 + expf(-x))
                XCTAssertEqual(out[i], Ops.silu(x) * up[i], accuracy: 1e-5 * max(1, abs(out[i])), "silu \(n) at \(i)")
                XCTAssertEqual(dup[i], dout[i] * x * s, accuracy: 1e-5 * max(1, abs(dup[i])), "dup \(n) at \(i)")
                XCTAssertEqual(dgate[i], dout[i] * up[i] * s * (1 + x * (1 - s)), accuracy: 1e-5 * max(1, abs(dgate[i])), "dgate \(n) at \(i)")
            }
        }
    }

    /// torch.optim.AdamW's single-tensor arithmetic in scalar Float32, as AdamW.swift wrote it before the kernel.
    func scalarAdamW(_ p: inout [Float], _ g: [Float], _ m: inout [Float], _ v: inout [Float], decay: Float?, lerpWeight: Float, b2: Float,
                     oneMinusB2: Float, denomScale: Float, eps: Float, stepSize: Float) {
        for i in p.indices {
            if let decay { p[i] *= decay }
            let grad = g[i]
            m[i] = lerpWeight < 0.5 ? m[i] + lerpWeight * (grad - m[i]) : grad - (grad - m[i]) * (1 - lerpWeight)
            v[i] = v[i] * b2 + oneMinusB2 * grad * grad
            let denom = v[i].squareRoot() / denomScale + eps
            p[i] += -stepSize * (m[i] / denom)
        }
    }

    func testAdamWMatchesTheScalarFormulaBitForBit() {
        for n in sizes {
            for (decay, lerp) in [(Float(0.9999), Float(0.1)), (nil, Float(0.1)), (Float(0.99), Float(0.7))] {
                var p = randomRow(n, seed: UInt64(n) + 6), m = randomRow(n, seed: UInt64(n) + 7, scale: 0.01)
                var v = randomRow(n, seed: UInt64(n) + 8, scale: 0.001).map(abs)
                let g = randomRow(n, seed: UInt64(n) + 9, scale: 0.1)
                var (rp, rm, rv) = (p, m, v)
                let settings = (b2: Float(0.95), oneMinusB2: Float(1 - 0.95), denomScale: Float(0.3), eps: Float(1e-8), stepSize: Float(3e-3))
                scalarAdamW(&rp, g, &rm, &rv, decay: decay, lerpWeight: lerp, b2: settings.b2, oneMinusB2: settings.oneMinusB2,
                            denomScale: settings.denomScale, eps: settings.eps, stepSize: settings.stepSize)
                OptimizerOps.adamW(parameters: &p, gradients: g, expAvg: &m, expAvgSq: &v, count: n, decayFactor: decay, lerpWeight: lerp,
                                   beta2: settings.b2, oneMinusBeta2: settings.oneMinusB2, denomScale: settings.denomScale, eps: settings.eps,
                                   stepSize: settings.stepSize)
                XCTAssertEqual(p.map(\.bitPattern), rp.map(\.bitPattern), "parameters, n \(n) decay \(String(describing: decay)) lerp \(lerp)")
                XCTAssertEqual(m.map(\.bitPattern), rm.map(\.bitPattern), "exp_avg, n \(n)")
                XCTAssertEqual(v.map(\.bitPattern), rv.map(\.bitPattern), "exp_avg_sq, n \(n)")
            }
        }
    }

    func testSumOfSquaresAndScale() {
        for n in sizes {
            let x = randomRow(n, seed: UInt64(n) + 10, scale: 3)
            let plain = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(OptimizerOps.sumOfSquares(x, count: n), plain, accuracy: 1e-12 * max(plain, 1))
            var scaled = x
            OptimizerOps.scale(&scaled, count: n, by: 0.37)
            XCTAssertEqual(scaled, x.map { $0 * 0.37 })
        }
    }
}
