// Attention for packed rows: the new tokens of several sequences in one forward after a KV cache they
// share (an eval batch: each item's context after the few-shot prefix the items have in common, each
// choice after its item's context). A segment's rows see some cache ranges in full (the shared prefix,
// the context a continuation follows) and their own rows causally. What a segment sees is gathered per
// kv head into one block, so a segment costs one scores product and one values product per head over
// exactly what it sees: no block-diagonal mask computed and thrown away.
import Foundation
import Kernels

/// A run of new rows that belong to one sequence.
public struct PackedSegment: Sendable, Equatable {
    /// Cache slots the segment's rows take, in order.
    public var slots: Range<Int>
    /// Cache slots every row of the segment sees in full before its own (ascending, disjoint, all below `slots`).
    public var sees: [Range<Int>]
    /// The RoPE position of the segment's first row (the others follow one by one).
    public var firstPosition: Int

    public init(slots: Range<Int>, sees: [Range<Int>], firstPosition: Int) {
        self.slots = slots; self.sees = sees; self.firstPosition = firstPosition
    }
}

public final class PackedAttention {
    let cache: KVCache
    let pool: ThreadPool
    let heads: Int, kvHeads: Int, headDim: Int
    /// Per thread: one segment's scores, (batch, contextLength).
    private let scores: UnsafeMutablePointer<Float>
    /// Per thread: the keys and then the values one segment sees for one kv head, (contextLength, d) each.
    private let gathered: UnsafeMutablePointer<Float>
    private let batch: Int
    /// Rows per scores product: small enough that the masked corners are little, large enough for sgemm.
    static let rowBlock = 64

    init(cache: KVCache, heads: Int, kvHeads: Int, headDim: Int, batch: Int, pool: ThreadPool) {
        self.cache = cache; self.pool = pool; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.batch = batch
        let slots = max(1, min(pool.threads, heads)), context = cache.contextLength
        scores = .allocate(capacity: slots * batch * context)
        gathered = .allocate(capacity: slots * 2 * context * headDim)
    }

    deinit { scores.deallocate(); gathered.deallocate() }

    /// q: (t, heads·d), k/v: (t, kvHeads·d) for cache slots start..<start+t -> out: (t, heads·d). Appends k and v
    /// to the cache rows of `layer`; `segments` say what each row sees (those outside the t rows are skipped).
    func attend(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows t: Int, layer l: Int, start p0: Int,
                segments: [PackedSegment], into out: UnsafeMutablePointer<Float>) {
        cache.store(layer: l, keys: k, values: v, rows: t, at: p0)
        let d = headDim, qDim = heads * d, heads = self.heads
        let storage = cache.storage, rowBytes = cache.rowBytes, keys = cache.keys[l], values = cache.values[l]
        let here = segments.filter { $0.slots.overlaps(p0..<(p0 + t)) }
        let scale = 1 / Float(d).squareRoot(), group = heads / kvHeads, context = cache.contextLength
        let slots = max(1, min(pool.threads, heads)), scoresBase = scores, gatheredBase = gathered, batch = self.batch
        let attendHeads = { (slot: Int) in
            let scores = scoresBase + slot * batch * context
            let wideK = gatheredBase + slot * 2 * context * d, wideV = wideK + context * d
            for segment in here {
                let lo = max(segment.slots.lowerBound, p0), hi = min(segment.slots.upperBound, p0 + t)
                // What the rows lo..<hi see: the ranges in full, then the segment's own rows up to hi.
                let ranges = segment.sees + [segment.slots.lowerBound..<hi]
                let length = ranges.reduce(0) { $0 + $1.count }
                var gatheredHead = -1
                for h in (heads * slot / slots)..<(heads * (slot + 1) / slots) {
                    let kvh = h / group
                    if kvh != gatheredHead {
                        var at = 0
                        for range in ranges where !range.isEmpty {
                            storage.rowsAsFloat(keys + range.lowerBound * rowBytes, rowBytes: rowBytes, offset: kvh * d, d: d,
                                                rows: range.count, into: wideK + at * d)
                            storage.rowsAsFloat(values + range.lowerBound * rowBytes, rowBytes: rowBytes, offset: kvh * d, d: d,
                                                rows: range.count, into: wideV + at * d)
                            at += range.count
                        }
                        gatheredHead = kvh
                    }
                    // In blocks of rows: a block's scores stop at its last row's slot, so the masked corner of
                    // the segment's own rows is not computed (a causal triangle would cost a square).
                    var a = lo
                    while a < hi {
                        let b = min(a + Self.rowBlock, hi), n = length - (hi - b)
                        // scores (b − a, n) = q_h · K_seenᵀ / √d; row i (slot a + i) sees all but the own rows after it.
                        BLAS.gemm(transA: false, transB: true, m: b - a, n: n, k: d, alpha: scale, a: q + (a - p0) * qDim + h * d, lda: qDim,
                                  b: wideK, ldb: d, c: scores, ldc: n)
                        for i in 0..<(b - a) {
                            let row = scores + i * n, visible = n - (b - 1 - (a + i))
                            for j in visible..<n { row[j] = 0 }
                            FastOps.softmax(row, n: visible)
                        }
                        // out_h (b − a, d) = P · V_seen
                        BLAS.gemm(transA: false, transB: false, m: b - a, n: d, k: n, a: scores, lda: n, b: wideV, ldb: d,
                                  c: out + (a - p0) * qDim + h * d, ldc: qDim)
                        a = b
                    }
                }
            }
        }
        if slots > 1 {
            BLAS.withSingleThread { pool.parallelFor(count: slots, body: attendHeads) }
        } else {
            attendHeads(0)
        }
    }
}
