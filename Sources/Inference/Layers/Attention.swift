// Causal multi-head attention with grouped-query heads (query head h reads key/value head
// h / (heads / kvHeads)), after the projections and RoPE. Per sequence b and head h, with the head's
// rows strided inside the (B·T, heads·D) buffers:
//   S = Q_h·K_hᵀ / √D (T, T),  P = softmax over j ≤ i (P[i, j > i] = 0),  O_h = P·V_h (T, D).
// With packed documents, row i also sees only its own document: j ≥ i − positions[i] (block-diagonal
// causal mask), so nothing leaks across example boundaries. A sliding window (Mistral) also drops
// keys j ≤ i − window.
// Training runs it fused and tiled (`forward`/`backward`: CKernels/attention_train.c, FlashAttention-2):
// the forward keeps only each row's log-sum-exp L (B, H, T) and the backward recomputes P = exp(S − L)
// tile by tile, so no (T, T) matrix is stored and key tiles a query tile cannot see are skipped.
// `referenceForward`/`referenceBackward` are the plain BLAS version (full S, stored P) it is tested
// against, and what head dims over `kernelMaxHeadDim` run.
import Foundation
import Kernels
import Checkpoints
import CKernels

public enum CausalAttention {
    /// The largest head dim the fused kernel takes: every model hayai loads (24 ... 128, 256 for some)
    /// fits; past it the per-thread scratch (~8·T·D floats) grows and the reference's BLAS runs instead.
    public static let kernelMaxHeadDim = 256

    public static func usesKernel(headDim d: Int) -> Bool { d <= kernelMaxHeadDim }

    /// Floats the forward saves for the backward: the log-sum-exp of each row (B, H, T) with the
    /// kernel, the probabilities (B, H, T, T) with the reference.
    public static func savedFloats(batch: Int, seqLen t: Int, heads: Int, headDim d: Int) -> Int {
        batch * heads * t * (usesKernel(headDim: d) ? 1 : t)
    }

    /// Floats of scratch forward and backward need for `threads` threads (the pool's, 1 without one).
    public static func scratchFloats(seqLen t: Int, headDim d: Int, threads: Int) -> Int {
        max(1, threads) * (usesKernel(headDim: d) ? hayai_causal_attention_scratch(Int32(t), Int32(d)) : t * t)
    }

    /// q: (B·T, H·D), k/v: (B·T, KVH·D) -> saved: savedFloats(…) (L or P), out: (B·T, H·D).
    /// scratch: scratchFloats(seqLen:headDim:threads:). Sequences × kv heads are split over the pool's threads.
    public static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               batch: Int, seqLen t: Int, heads: Int, kvHeads: Int, headDim d: Int,
                               saved: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                               positions: UnsafePointer<Int32>? = nil, window: Int? = nil, pool: ThreadPool? = nil) {
        guard usesKernel(headDim: d) else {
            referenceForward(q: q, k: k, v: v, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads, headDim: d, probs: saved, out: out,
                             positions: positions, window: window, pool: pool)
            return
        }
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot(), perThread = scratchFloats(seqLen: t, headDim: d, threads: 1)
        split(batch * kvHeads, pool: pool) { unit, slice in
            let b = unit / kvHeads, kvh = unit % kvHeads
            hayai_causal_attention_forward(q + b * t * qDim + kvh * group * d, qDim, k + b * t * kvDim + kvh * d, v + b * t * kvDim + kvh * d,
                                           kvDim, Int32(t), Int32(d), Int32(group), positions.map { $0 + b * t }, Int32(window ?? 0),
                                           scale, scratch + slice * perThread, out + b * t * qDim + kvh * group * d, qDim,
                                           saved + (b * heads + kvh * group) * t)
        }
    }

    /// dout: (B·T, H·D), with the forward's q, k, v, out and saved -> dq: (B·T, H·D), dk/dv: (B·T, KVH·D),
    /// all overwritten. A kv head's query heads run in order on one thread (they add into the same dK, dV rows).
    public static func backward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                out: UnsafePointer<Float>, saved: UnsafePointer<Float>, batch: Int, seqLen t: Int, heads: Int, kvHeads: Int,
                                headDim d: Int, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>? = nil, window: Int? = nil,
                                pool: ThreadPool? = nil) {
        guard usesKernel(headDim: d) else {
            referenceBackward(dout: dout, q: q, k: k, v: v, probs: saved, batch: batch, seqLen: t, heads: heads, kvHeads: kvHeads, headDim: d,
                              dq: dq, dk: dk, dv: dv, scratch: scratch, positions: positions, window: window, pool: pool)
            return
        }
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot(), perThread = scratchFloats(seqLen: t, headDim: d, threads: 1)
        split(batch * kvHeads, pool: pool) { unit, slice in
            let b = unit / kvHeads, kvh = unit % kvHeads
            let qOff = b * t * qDim + kvh * group * d, kvOff = b * t * kvDim + kvh * d
            hayai_causal_attention_backward(dout + qOff, q + qOff, out + qOff, qDim, k + kvOff, v + kvOff, kvDim,
                                            saved + (b * heads + kvh * group) * t, Int32(t), Int32(d), Int32(group),
                                            positions.map { $0 + b * t }, Int32(window ?? 0), scale, scratch + slice * perThread,
                                            dq + qOff, dk + kvOff, dv + kvOff)
        }
    }

    /// The reference: q: (B·T, H·D), k/v: (B·T, KVH·D) -> probs: (B, H, T, T), out: (B·T, H·D)
    /// With a pool, sequences × kv heads are split over its threads (BLAS on one thread meanwhile).
    public static func referenceForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        batch: Int, seqLen t: Int, heads: Int, kvHeads: Int, headDim d: Int,
                                        probs: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                               positions: UnsafePointer<Int32>? = nil, window: Int? = nil, pool: ThreadPool? = nil) {
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        split(batch * kvHeads, pool: pool) { unit, _ in
            let b = unit / kvHeads, kvh = unit % kvHeads
            for h in (kvh * group)..<((kvh + 1) * group) {
                let qh = q + b * t * qDim + h * d, kh = k + b * t * kvDim + kvh * d, vh = v + b * t * kvDim + kvh * d
                let p = probs + (b * heads + h) * t * t
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: d, alpha: scale, a: qh, lda: qDim, b: kh, ldb: kvDim,
                          c: p, ldc: t)
                for i in 0..<t {
                    let row = p + i * t, start = firstVisible(b, i, t, positions, window)
                    if start > 0 { row.update(repeating: 0, count: start) }
                    if i + 1 < t { (row + i + 1).update(repeating: 0, count: t - i - 1) }
                    FastOps.softmax(row + start, n: i + 1 - start)
                }
                BLAS.gemm(transA: false, transB: false, m: t, n: d, k: t, a: p, lda: t, b: vh, ldb: kvDim,
                          c: out + b * t * qDim + h * d, ldc: qDim)
            }
        }
    }

    /// The reference's backward: dout: (B·T, H·D), with the forward's q, k, v, probs -> dq: (B·T, H·D),
    /// dk/dv: (B·T, KVH·D), all overwritten. scratch: (T, T) per thread of the pool (1 without one).
    ///   dV_h += Pᵀ·dO_h;  dP = dO_h·V_hᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP));
    ///   dQ_h = dS·K_h / √D;  dK_h += dSᵀ·Q_h / √D
    /// A kv head's query heads run in order on one thread (they add into the same dK, dV rows).
    public static func referenceBackward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                probs: UnsafePointer<Float>, batch: Int, seqLen t: Int, heads: Int, kvHeads: Int, headDim d: Int,
                                dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>? = nil, window: Int? = nil,
                                pool: ThreadPool? = nil) {
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        dk.update(repeating: 0, count: batch * t * kvDim)
        dv.update(repeating: 0, count: batch * t * kvDim)
        split(batch * kvHeads, pool: pool) { unit, slice in
            let b = unit / kvHeads, kvh = unit % kvHeads
            let dP = scratch + slice * t * t
            for h in (kvh * group)..<((kvh + 1) * group) {
                let qOff = b * t * qDim + h * d, kvOff = b * t * kvDim + kvh * d
                let p = probs + (b * heads + h) * t * t
                let dO = dout + qOff
                // dV_h += Pᵀ (T, T) · dO_h (T, D)
                BLAS.gemm(transA: true, transB: false, m: t, n: d, k: t, a: p, lda: t, b: dO, ldb: qDim,
                          beta: 1, c: dv + kvOff, ldc: kvDim)
                // dP (T, T) = dO_h · V_hᵀ
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: d, a: dO, lda: qDim, b: v + kvOff, ldb: kvDim,
                          c: dP, ldc: t)
                for i in 0..<t {
                    let dr = dP + i * t, start = firstVisible(b, i, t, positions, window)
                    if start > 0 { dr.update(repeating: 0, count: start) }
                    FastOps.softmaxBackward(probs: p + i * t + start, gradient: dr + start, n: i + 1 - start)
                    if i + 1 < t { (dr + i + 1).update(repeating: 0, count: t - i - 1) }
                }
                // dQ_h = scale · dS · K_h ;  dK_h += scale · dSᵀ · Q_h
                BLAS.gemm(transA: false, transB: false, m: t, n: d, k: t, alpha: scale, a: dP, lda: t, b: k + kvOff, ldb: kvDim,
                          c: dq + qOff, ldc: qDim)
                BLAS.gemm(transA: true, transB: false, m: t, n: d, k: t, alpha: scale, a: dP, lda: t, b: q + qOff, ldb: qDim,
                          beta: 1, c: dk + kvOff, ldc: kvDim)
            }
        }
    }

    /// body(unit, slice) for every unit in 0..<units: with a pool of several threads, in that many
    /// contiguous slices run at once (slice numbers a slice's scratch) with BLAS on one thread, so the
    /// small per-head products do not each wake BLAS's threads; without, in order with slice 0.
    static func split(_ units: Int, pool: ThreadPool?, _ body: (Int, Int) -> Void) {
        guard let pool, pool.threads > 1, units > 1 else { for u in 0..<units { body(u, 0) }; return }
        let slices = min(pool.threads, units)
        BLAS.withSingleThread {
            pool.parallelFor(count: slices) { s in
                for u in (units * s / slices)..<(units * (s + 1) / slices) { body(u, s) }
            }
        }
    }

    /// The first key position row i of sequence b may attend to: 0, or its document's start when
    /// packed, or i − window + 1 when that is later.
    @inline(__always)
    static func firstVisible(_ b: Int, _ i: Int, _ t: Int, _ positions: UnsafePointer<Int32>?, _ window: Int?) -> Int {
        let documentStart = positions.map { max(0, i - Int($0[b * t + i])) } ?? 0
        return max(documentStart, ModelConfig.firstAttendedPosition(query: i, window: window))
    }
}
