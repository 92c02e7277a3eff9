// Inference's attention core: the new tokens' keys and values go into the KV cache, then every new
// query attends over the cached positions and the new ones before it. One token reads each cache row
// once for a range of heads; several run per head through single-threaded sgemm calls.
import Foundation
import Kernels
import Checkpoints

public final class CachedAttention {
    public let cache: KVCache
    let pool: ThreadPool
    let heads: Int, kvHeads: Int, headDim: Int
    /// Mistral's sliding window: a query at position i sees keys i − window + 1 ... i (nil: all).
    let slidingWindow: Int?
    /// Per thread one row of scores per query, or per head for one token.
    private let scores: UnsafeMutablePointer<Float>
    /// Per thread one kv head's keys and values widened to Float32 (caches that are not F32).
    private let kvWide: UnsafeMutablePointer<Float>

    public init(cache: KVCache, heads: Int, kvHeads: Int, headDim: Int, slidingWindow: Int? = nil, batch: Int, pool: ThreadPool) {
        self.cache = cache; self.pool = pool; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        self.slidingWindow = slidingWindow
        let slots = max(1, min(pool.threads, heads)), context = cache.contextLength
        scores = .allocate(capacity: max(batch * slots, heads) * context)
        scores.initialize(repeating: 0, count: max(batch * slots, heads) * context)
        kvWide = .allocate(capacity: slots * 2 * context * headDim)
        kvWide.initialize(repeating: 0, count: slots * 2 * context * headDim)
    }

    deinit { scores.deallocate(); kvWide.deallocate() }

    /// q: (t, heads·d), k/v: (t, kvHeads·d) at positions start..<start+t -> out: (t, heads·d).
    /// Appends k and v to the cache rows of `layer` (converted to its storage type).
    func attend(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows t: Int, layer l: Int, start p0: Int,
                into out: UnsafeMutablePointer<Float>) {
        let d = headDim, qDim = heads * d, kvDim = kvHeads * d, heads = self.heads
        let storage = cache.storage, rowBytes = cache.rowBytes
        let keys = cache.keys[l], values = cache.values[l]
        for r in 0..<t {
            storage.store(k + r * kvDim, elements: kvDim, into: keys + (p0 + r) * rowBytes)
            storage.store(v + r * kvDim, elements: kvDim, into: values + (p0 + r) * rowBytes)
        }

        let length = p0 + t, scale = 1 / Float(d).squareRoot(), group = heads / kvHeads
        let context = cache.contextLength, slots = min(pool.threads, heads)
        if t == 1 {
            // One query: scores over the cache, softmax and the weighted sum of values in AVX2 passes
            // that read each cache row once for a range of heads (BLAS calls per head cost more than
            // they compute at these sizes); the heads split into one range per thread.
            // A sliding window starts the visible rows later.
            let first = firstAttended(p0)
            let keys = keys + first * rowBytes, values = values + first * rowBytes, length = length - first
            let scores = self.scores
            pool.parallelFor(count: slots) { slot in
                storage.attend(queries: q, heads: (heads * slot / slots)..<(heads * (slot + 1) / slots), group: group,
                               keys: keys, values: values, rowBytes: rowBytes, d: d, length: length, scale: scale,
                               scores: scores, ldScores: context, into: out)
            }
            return
        }

        // Several queries, per head: scores (t, L) = q_h · K_hᵀ / √d, causal mask, softmax, then
        // out_h (t, d) = P · V_h, through single-threaded sgemm calls; the heads are split over the
        // pool's threads, each with its own scratch. A cache that is not F32 is widened per kv head.
        let scoresBase = self.scores, wideBase = self.kvWide, window = slidingWindow
        let attendHeads = { (slot: Int) in
            let scores = scoresBase + slot * t * context, wide = wideBase + slot * 2 * context * d
            var lastKVHead = -1
            for h in (heads * slot / slots)..<(heads * (slot + 1) / slots) {
                let kvh = h / group
                let kh: UnsafePointer<Float>, vh: UnsafePointer<Float>, ld: Int
                if storage == .f32 {
                    kh = UnsafePointer(keys.assumingMemoryBound(to: Float.self) + kvh * d)
                    vh = UnsafePointer(values.assumingMemoryBound(to: Float.self) + kvh * d)
                    ld = kvDim
                } else {
                    if kvh != lastKVHead {
                        storage.rowsAsFloat(keys, rowBytes: rowBytes, offset: kvh * d, d: d, rows: length, into: wide)
                        storage.rowsAsFloat(values, rowBytes: rowBytes, offset: kvh * d, d: d, rows: length, into: wide + length * d)
                        lastKVHead = kvh
                    }
                    kh = UnsafePointer(wide); vh = UnsafePointer(wide + length * d); ld = d
                }
                let qh = q + h * d, oh = out + h * d
                BLAS.gemm(transA: false, transB: true, m: t, n: length, k: d, alpha: scale, a: qh, lda: qDim, b: kh, ldb: ld,
                          c: scores, ldc: length)
                for r in 0..<t {
                    let row = scores + r * length
                    let visible = p0 + r + 1, first = ModelConfig.firstAttendedPosition(query: p0 + r, window: window)
                    for j in 0..<first { row[j] = 0 }
                    for j in visible..<length { row[j] = 0 }
                    FastOps.softmax(row + first, n: visible - first)
                }
                BLAS.gemm(transA: false, transB: false, m: t, n: d, k: length, a: scores, lda: length, b: vh, ldb: ld,
                          c: oh, ldc: qDim)
            }
        }
        if slots > 1 {
            BLAS.withSingleThread { pool.parallelFor(count: slots, body: attendHeads) }
        } else {
            attendHeads(0)
        }
    }

    @inline(__always)
    private func firstAttended(_ position: Int) -> Int {
        ModelConfig.firstAttendedPosition(query: position, window: slidingWindow)
    }
}
