// Training's fused attention (CKernels/attention_train.c through CausalAttention.forward/backward)
// against the BLAS reference that stores the probabilities (CausalAttention.referenceForward/Backward):
// O, each row's log-sum-exp L (against a Double sum) and dQ, dK, dV, on sizes that are not multiples of
// the kernel's tiles (32 queries × 64 keys), head dims the models have, grouped-query heads (groups 1, 3,
// 4), packed documents and sliding windows; and the reference taking head dims past the kernel's limit.
import XCTest
import Kernels
@testable import Inference
@testable import Training
import Checkpoints

final class FlashAttentionTests: XCTestCase {
    struct Shape {
        var batch: Int, t: Int, heads: Int, kvHeads: Int, d: Int
        /// Document starts within each sequence (packed), [] for one document a sequence.
        var documents: [Int] = [], window: Int? = nil
    }

    struct Result { var out, saved, dq, dk, dv: [Float] }

    func positions(_ s: Shape) -> [Int32]? {
        guard !s.documents.isEmpty else { return nil }
        return (0..<s.batch * s.t).map { r in
            let (b, i) = (r / s.t, r % s.t)
            // Sequence b's documents start at the listed offsets shifted by b (so sequences differ).
            let start = s.documents.map { min(s.t - 1, $0 + b) }.filter { $0 <= i }.max() ?? 0
            return Int32(i - start)
        }
    }

    func run(_ s: Shape, reference: Bool, pool: ThreadPool? = nil, seed: UInt64) -> Result {
        let qDim = s.heads * s.d, kvDim = s.kvHeads * s.d, n = s.batch * s.t
        let q = randomFloats(n * qDim, seed: seed, std: 1.5), k = randomFloats(n * kvDim, seed: seed + 1, std: 1.5)
        let v = randomFloats(n * kvDim, seed: seed + 2), dout = randomFloats(n * qDim, seed: seed + 3)
        let pos = positions(s)
        var out = [Float](repeating: .nan, count: n * qDim)
        var dq = out, dk = [Float](repeating: .nan, count: n * kvDim), dv = dk
        let threads = pool?.threads ?? 1
        if reference {
            var probs = [Float](repeating: .nan, count: s.batch * s.heads * s.t * s.t), scratch = [Float](repeating: .nan, count: threads * s.t * s.t)
            CausalAttention.referenceForward(q: q, k: k, v: v, batch: s.batch, seqLen: s.t, heads: s.heads, kvHeads: s.kvHeads, headDim: s.d,
                                             probs: &probs, out: &out, positions: pos, window: s.window, pool: pool)
            CausalAttention.referenceBackward(dout: dout, q: q, k: k, v: v, probs: probs, batch: s.batch, seqLen: s.t, heads: s.heads,
                                              kvHeads: s.kvHeads, headDim: s.d, dq: &dq, dk: &dk, dv: &dv, scratch: &scratch,
                                              positions: pos, window: s.window, pool: pool)
            return Result(out: out, saved: probs, dq: dq, dk: dk, dv: dv)
        }
        var saved = [Float](repeating: .nan, count: CausalAttention.savedFloats(batch: s.batch, seqLen: s.t, heads: s.heads, headDim: s.d))
        var scratch = [Float](repeating: .nan, count: CausalAttention.scratchFloats(seqLen: s.t, headDim: s.d, threads: threads))
        CausalAttention.forward(q: q, k: k, v: v, batch: s.batch, seqLen: s.t, heads: s.heads, kvHeads: s.kvHeads, headDim: s.d,
                                saved: &saved, out: &out, scratch: &scratch, positions: pos, window: s.window, pool: pool)
        CausalAttention.backward(dout: dout, q: q, k: k, v: v, out: out, saved: saved, batch: s.batch, seqLen: s.t, heads: s.heads,
                                 kvHeads: s.kvHeads, headDim: s.d, dq: &dq, dk: &dk, dv: &dv, scratch: &scratch,
                                 positions: pos, window: s.window, pool: pool)
        return Result(out: out, saved: saved, dq: dq, dk: dk, dv: dv)
    }

    /// Each row's log Σ_j exp(q_i·k_j / √d) over the keys it sees, in Double.
    func logSumExp(_ s: Shape, seed: UInt64) -> [Double] {
        let qDim = s.heads * s.d, kvDim = s.kvHeads * s.d, n = s.batch * s.t
        let q = randomFloats(n * qDim, seed: seed, std: 1.5), k = randomFloats(n * kvDim, seed: seed + 1, std: 1.5)
        let pos = positions(s)
        var lse = [Double](repeating: 0, count: s.batch * s.heads * s.t)
        for b in 0..<s.batch {
            for h in 0..<s.heads {
                let kvh = h / (s.heads / s.kvHeads)
                for i in 0..<s.t {
                    let first = pos.map { CausalAttention.firstVisible(b, i, s.t, $0, s.window) }
                        ?? CausalAttention.firstVisible(b, i, s.t, nil, s.window)
                    let scores = (first...i).map { j -> Double in
                        var dot: Double = 0
                        for e in 0..<s.d { dot += Double(q[(b * s.t + i) * qDim + h * s.d + e]) * Double(k[(b * s.t + j) * kvDim + kvh * s.d + e]) }
                        return dot / Double(s.d).squareRoot()
                    }
                    let m = scores.max()!
                    lse[(b * s.heads + h) * s.t + i] = m + log(scores.reduce(0) { $0 + exp($1 - m) })
                }
            }
        }
        return lse
    }

    /// Within `relative` of b's largest magnitude (of 1 where b is all zero: dQ and dK with one key a row).
    func assertClose(_ a: [Float], _ b: [Float], _ what: String, relative: Float = 1e-5) {
        XCTAssertEqual(a.count, b.count, what)
        XCTAssertFalse(a.contains { !$0.isFinite }, "\(what) has non-finite values")
        let scale = b.reduce(Float(0)) { max($0, abs($1)) }
        let diff = zip(a, b).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        XCTAssertLessThanOrEqual(diff, relative * max(scale, 1), "\(what): max difference \(diff) of \(scale)")
    }

    func check(_ s: Shape, seed: UInt64, pool: ThreadPool? = nil, file: StaticString = #filePath, line: UInt = #line) {
        let name = "T \(s.t) d \(s.d) heads \(s.heads)/\(s.kvHeads) batch \(s.batch) documents \(s.documents) window \(String(describing: s.window))"
        let fused = run(s, reference: false, pool: pool, seed: seed), reference = run(s, reference: true, seed: seed)
        // Past one key a row the gradients are not all zero (the comparison below would be vacuous).
        if s.t > 1 { for g in [reference.dq, reference.dk, reference.dv] { XCTAssertGreaterThan(g.map(abs).max()!, 1e-2, name) } }
        assertClose(fused.out, reference.out, "out, \(name)")
        assertClose(fused.dq, reference.dq, "dq, \(name)")
        assertClose(fused.dk, reference.dk, "dk, \(name)")
        assertClose(fused.dv, reference.dv, "dv, \(name)")
        let lse = logSumExp(s, seed: seed)
        XCTAssertEqual(fused.saved.count, lse.count, name)
        let worst = zip(fused.saved, lse).map { abs(Double($0.0) - $0.1) / max(1, abs($0.1)) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5, "log-sum-exp, \(name)")
    }

    func testFusedAttentionMatchesTheReferenceOnAwkwardSizes() {
        check(Shape(batch: 2, t: 1, heads: 3, kvHeads: 1, d: 24), seed: 100)
        check(Shape(batch: 1, t: 7, heads: 4, kvHeads: 4, d: 64), seed: 110)
        check(Shape(batch: 2, t: 63, heads: 4, kvHeads: 1, d: 80), seed: 120)
        check(Shape(batch: 1, t: 65, heads: 9, kvHeads: 3, d: 64), seed: 130)
        check(Shape(batch: 2, t: 130, heads: 2, kvHeads: 1, d: 24), seed: 140)
        check(Shape(batch: 1, t: 130, heads: 2, kvHeads: 2, d: 32), seed: 150)
        check(Shape(batch: 1, t: 97, heads: 3, kvHeads: 1, d: 96), seed: 160)
        check(Shape(batch: 1, t: 70, heads: 2, kvHeads: 1, d: 128), seed: 170)
        check(Shape(batch: 2, t: 33, heads: 2, kvHeads: 2, d: 5), seed: 180)
    }

    func testFusedAttentionKeepsPackedDocumentsAndWindowsApart() {
        // Several documents a sequence, one starting mid-tile and one at a tile edge; windows shorter and
        // longer than a key tile; both at once.
        check(Shape(batch: 2, t: 130, heads: 4, kvHeads: 1, d: 64, documents: [0, 20, 64, 101]), seed: 200)
        check(Shape(batch: 1, t: 65, heads: 3, kvHeads: 3, d: 80, documents: [0, 1, 2, 40]), seed: 210)
        check(Shape(batch: 2, t: 130, heads: 9, kvHeads: 3, d: 24, window: 17), seed: 220)
        check(Shape(batch: 1, t: 130, heads: 4, kvHeads: 2, d: 64, window: 70), seed: 230)
        check(Shape(batch: 2, t: 63, heads: 4, kvHeads: 1, d: 32, documents: [0, 30], window: 9), seed: 240)
    }

    func testFusedAttentionOnAPoolGivesTheSerialResultBitForBit() {
        let s = Shape(batch: 3, t: 65, heads: 6, kvHeads: 2, d: 24, documents: [0, 40], window: 50)
        let pool = ThreadPool(threads: 3)
        let serial = run(s, reference: false, seed: 300), split = run(s, reference: false, pool: pool, seed: 300)
        for (name, a, b) in [("out", split.out, serial.out), ("lse", split.saved, serial.saved), ("dq", split.dq, serial.dq),
                             ("dk", split.dk, serial.dk), ("dv", split.dv, serial.dv)] {
            XCTAssertEqual(a, b, "\(name) depends on the threads")
        }
    }

    /// The backward's AVX-512 register tiles (up to 6 × 64 outputs) and its AVX2 fallback (fa_product's 6 × 16) add
    /// each element's terms in the same order, so they agree bit for bit: head dims of one to two 64-column passes
    /// and their rests of 48, 32 and 16 columns (24, 32, 64, 80, 96, 128), partial tiles at both ends, packed
    /// documents and a window.
    func testFusedAttentionOnAVX512GivesTheAVX2ResultBitForBit() throws {
        try XCTSkipUnless(CachedAttention.blockedProductsOnAVX512, "this CPU has no AVX-512")
        defer { CachedAttention.blockedProductsOnAVX512 = true }
        let shapes = [Shape(batch: 2, t: 130, heads: 2, kvHeads: 1, d: 24), Shape(batch: 1, t: 97, heads: 3, kvHeads: 3, d: 32),
                      Shape(batch: 2, t: 130, heads: 4, kvHeads: 1, d: 64, documents: [0, 20, 64, 101]),
                      Shape(batch: 1, t: 65, heads: 3, kvHeads: 3, d: 80, documents: [0, 1, 2, 40]),
                      Shape(batch: 1, t: 97, heads: 3, kvHeads: 1, d: 96, window: 33), Shape(batch: 1, t: 70, heads: 2, kvHeads: 1, d: 128)]
        for (n, s) in shapes.enumerated() {
            CachedAttention.blockedProductsOnAVX512 = true
            let wide = run(s, reference: false, seed: 500 + UInt64(n))
            CachedAttention.blockedProductsOnAVX512 = false
            XCTAssertFalse(CachedAttention.blockedProductsOnAVX512)
            let narrow = run(s, reference: false, seed: 500 + UInt64(n))
            for (name, a, b) in [("out", wide.out, narrow.out), ("lse", wide.saved, narrow.saved), ("dq", wide.dq, narrow.dq),
                                 ("dk", wide.dk, narrow.dk), ("dv", wide.dv, narrow.dv)] {
                XCTAssertFalse(a.contains { !$0.isFinite }, "\(name) d \(s.d)")
                XCTAssertEqual(a.count, b.count)
                let differing = a.indices.filter { a[$0].bitPattern != b[$0].bitPattern }
                XCTAssertTrue(differing.isEmpty, "\(name) differs between AVX-512 and AVX2 at \(differing.count) of \(a.count), first \(differing.first.map { "\($0): \(a[$0]) vs \(b[$0])" } ?? ""), d \(s.d) T \(s.t)")
            }
        }
    }

    func testHeadDimsPastTheKernelsLimitRunTheReference() {
        let d = CausalAttention.kernelMaxHeadDim + 8
        XCTAssertFalse(CausalAttention.usesKernel(headDim: d))
        XCTAssertTrue(CausalAttention.usesKernel(headDim: CausalAttention.kernelMaxHeadDim))
        let s = Shape(batch: 1, t: 9, heads: 2, kvHeads: 1, d: d, documents: [0, 4])
        // The reference saves the probabilities: (B, H, T, T), each visible row summing to 1.
        XCTAssertEqual(CausalAttention.savedFloats(batch: 1, seqLen: 9, heads: 2, headDim: d), 2 * 9 * 9)
        XCTAssertEqual(CausalAttention.savedFloats(batch: 1, seqLen: 9, heads: 2, headDim: 64), 2 * 9)
        let routed = run(s, reference: false, seed: 400), reference = run(s, reference: true, seed: 400)
        XCTAssertEqual(routed.out, reference.out); XCTAssertEqual(routed.saved, reference.saved)
        XCTAssertEqual(routed.dq, reference.dq); XCTAssertEqual(routed.dk, reference.dk); XCTAssertEqual(routed.dv, reference.dv)
        for row in 0..<2 * 9 { XCTAssertEqual(routed.saved[row * 9..<(row + 1) * 9].reduce(0, +), 1, accuracy: 1e-5) }
    }

    func testTrainingActivationsKeepNoScoreMatrix() {
        // The saved probabilities alone would be 4 · B·H·T·T bytes a layer.
        let config = TinyConfigs.stablelm()
        let batch = 2, t = 256
        let bytes = TrainingModel.activationBytes(config: config, batchSize: batch, seqLen: t)
        let probabilities = 4 * config.numLayers * batch * config.numHeads * t * t
        XCTAssertLessThan(bytes, probabilities, "activations hold a (T, T) matrix per head and layer")
    }
}
