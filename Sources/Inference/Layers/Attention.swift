// Causal multi-head attention with grouped-query heads (query head h reads key/value head
// h / (heads / kvHeads)), after the projections and RoPE. Per sequence b and head h, with the head's
// rows strided inside the (B·T, heads·D) buffers:
//   S = Q_h·K_hᵀ / √D (T, T),  P = softmax over j ≤ i (P[i, j > i] = 0),  O_h = P·V_h (T, D).
// With packed documents, row i also sees only its own document: j ≥ i − positions[i] (block-diagonal
// causal mask), so nothing leaks across example boundaries. A sliding window (Mistral) also drops
// keys j ≤ i − window.
// The backward recomputes nothing: it reads the saved P.
import Foundation
import Kernels
import Checkpoints

public enum CausalAttention {
    /// q: (B·T, H·D), k/v: (B·T, KVH·D) -> probs: (B, H, T, T), out: (B·T, H·D)
    public static func forward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                               batch: Int, seqLen t: Int, heads: Int, kvHeads: Int, headDim d: Int,
                               probs: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                               positions: UnsafePointer<Int32>? = nil, window: Int? = nil) {
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let kvh = h / group
                let qh = q + b * t * qDim + h * d, kh = k + b * t * kvDim + kvh * d, vh = v + b * t * kvDim + kvh * d
                let p = probs + (b * heads + h) * t * t
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: d, alpha: scale, a: qh, lda: qDim, b: kh, ldb: kvDim,
                          c: p, ldc: t)
                for i in 0..<t {
                    let row = p + i * t, start = firstVisible(b, i, t, positions, window)
                    for j in 0..<start { row[j] = 0 }
                    for j in (i + 1)..<max(t, i + 1) { row[j] = 0 }
                    Ops.softmax(row + start, n: i + 1 - start)
                }
                BLAS.gemm(transA: false, transB: false, m: t, n: d, k: t, a: p, lda: t, b: vh, ldb: kvDim,
                          c: out + b * t * qDim + h * d, ldc: qDim)
            }
        }
    }

    /// dout: (B·T, H·D), with the forward's q, k, v, probs -> dq: (B·T, H·D), dk/dv: (B·T, KVH·D), all
    /// overwritten. scratch: (T, T).
    ///   dV_h += Pᵀ·dO_h;  dP = dO_h·V_hᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP));
    ///   dQ_h = dS·K_h / √D;  dK_h += dSᵀ·Q_h / √D
    public static func backward(dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                probs: UnsafePointer<Float>, batch: Int, seqLen t: Int, heads: Int, kvHeads: Int, headDim d: Int,
                                dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>, positions: UnsafePointer<Int32>? = nil, window: Int? = nil) {
        let qDim = heads * d, kvDim = kvHeads * d, group = heads / kvHeads
        let scale = 1 / Float(d).squareRoot()
        dk.update(repeating: 0, count: batch * t * kvDim)
        dv.update(repeating: 0, count: batch * t * kvDim)
        for b in 0..<batch {
            for h in 0..<heads {
                let kvh = h / group
                let qOff = b * t * qDim + h * d, kvOff = b * t * kvDim + kvh * d
                let p = probs + (b * heads + h) * t * t
                let dO = dout + qOff
                // dV_h += Pᵀ (T, T) · dO_h (T, D)
                BLAS.gemm(transA: true, transB: false, m: t, n: d, k: t, a: p, lda: t, b: dO, ldb: qDim,
                          beta: 1, c: dv + kvOff, ldc: kvDim)
                // dP (T, T) = dO_h · V_hᵀ
                BLAS.gemm(transA: false, transB: true, m: t, n: t, k: d, a: dO, lda: qDim, b: v + kvOff, ldb: kvDim,
                          c: scratch, ldc: t)
                for i in 0..<t {
                    let pr = p + i * t, dr = scratch + i * t, start = firstVisible(b, i, t, positions, window)
                    var dot: Float = 0
                    for j in start...i { dot += pr[j] * dr[j] }
                    for j in 0..<start { dr[j] = 0 }
                    for j in start...i { dr[j] = pr[j] * (dr[j] - dot) }
                    for j in (i + 1)..<max(t, i + 1) { dr[j] = 0 }
                }
                // dQ_h = scale · dS · K_h ;  dK_h += scale · dSᵀ · Q_h
                BLAS.gemm(transA: false, transB: false, m: t, n: d, k: t, alpha: scale, a: scratch, lda: t, b: k + kvOff, ldb: kvDim,
                          c: dq + qOff, ldc: qDim)
                BLAS.gemm(transA: true, transB: false, m: t, n: d, k: t, alpha: scale, a: scratch, lda: t, b: q + qOff, ldb: qDim,
                          beta: 1, c: dk + kvOff, ldc: kvDim)
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
