// Attention split over a thread pool (sequences × kv heads, BLAS on one thread) gives what the serial
// path gives, forward and backward, with grouped-query heads (whose query heads add into the same dK and
// dV rows), packed documents and a sliding window, on sizes that are not multiples of 8.
import XCTest
import Kernels
@testable import Inference

final class AttentionPoolTests: XCTestCase {
    func testAttentionOnAPoolMatchesTheSerialPath() {
        let batch = 3, t = 37, heads = 6, kvHeads = 2, d = 6
        let qDim = heads * d, kvDim = kvHeads * d
        let q = randomFloats(batch * t * qDim, seed: 31, std: 1), k = randomFloats(batch * t * kvDim, seed: 32, std: 1)
        let v = randomFloats(batch * t * kvDim, seed: 33, std: 1), dout = randomFloats(batch * t * qDim, seed: 34, std: 1)
        // Two documents in the second sequence (positions restart at 20), one each in the others.
        let positions = (0..<batch * t).map { r -> Int32 in let (b, i) = (r / t, r % t); return Int32(b == 1 && i >= 20 ? i - 20 : i) }
        let pool = ThreadPool(threads: 3)
        for window in [nil, 9] as [Int?] {
            func run(_ pool: ThreadPool?) -> (out: [Float], dq: [Float], dk: [Float], dv: [Float]) {
                var saved = [Float](repeating: .nan, count: CausalAttention.savedFloats(batch: batch, seqLen: t, heads: heads, headDim: d))
                var out = [Float](repeating: .nan, count: q.count)
                var scratch = [Float](repeating: .nan, count: CausalAttention.scratchFloats(seqLen: t, headDim: d, threads: pool?.threads ?? 1))
                CausalAttention.forward(q: q, k: k, v: v, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads, headDim: d, saved: &saved,
                                        out: &out, scratch: &scratch, positions: positions, window: window, pool: pool)
                var dq = [Float](repeating: .nan, count: q.count), dk = [Float](repeating: .nan, count: k.count), dv = dk
                CausalAttention.backward(dout: dout, q: q, k: k, v: v, out: out, saved: saved, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads,
                                         headDim: d, dq: &dq, dk: &dk, dv: &dv, scratch: &scratch, positions: positions, window: window, pool: pool)
                return (out, dq, dk, dv)
            }
            let serial = run(nil), split = run(pool)
            for (name, a, b) in [("out", split.out, serial.out), ("dq", split.dq, serial.dq), ("dk", split.dk, serial.dk), ("dv", split.dv, serial.dv)] {
                XCTAssertFalse(a.contains { !$0.isFinite }, "\(name) has non-finite values (window \(String(describing: window)))")
                let diff = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }, scale = b.reduce(Float(0)) { max($0, abs($1)) }
                XCTAssertGreaterThan(scale, 1e-3, name)
                XCTAssertLessThan(diff, 1e-5 * scale, "\(name) differs on the pool (window \(String(describing: window)))")
            }
        }
    }
}
