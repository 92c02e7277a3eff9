// Inference's attention core: the new tokens' keys and values go into the KV cache, then every new
// query attends over the cached positions and the new ones before it. One token reads each cache row
// once for a range of heads. Several run blocked, flash-style (`PromptKernel.blocked`, C in
// CKernels/rowops.c): tiles of 32 queries (two a work item) against tiles of 64 keys with a running softmax, so no
// (t, length) score matrix exists and keys a tile of queries cannot see are never multiplied; the
// full-score path (per head, sgemm over every cached position, then a masked softmax) stays as the
// reference the blocked one is tested against.
import Foundation
import Kernels
import Checkpoints
import CKernels

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

    /// How several queries attend.
    public enum PromptKernel: Sendable {
        /// Query tiles against key tiles with a running softmax (hayai_attend_prompt).
        case blocked
        /// Per head, the full (t, length) scores through sgemm, masked, softmax, times V: the reference.
        case fullScores
    }
    public var promptKernel = PromptKernel.blocked
    /// Whether one query runs through the blocked kernel too (which then gives a row the same bits as in a
    /// forward of many rows) instead of the one-token pass that reads each cache row once for a range of heads.
    public var oneQueryBlocked = false
    /// Whether the blocked kernel's products run on AVX-512 (where the CPU has it; the same results as
    /// on AVX2 bit for bit). Process-wide; tests turn it off to compare.
    static var blockedProductsOnAVX512: Bool {
        get { hayai_attend_prompt_avx512() != 0 }
        set { hayai_attend_prompt_set_avx512(newValue ? 1 : 0) }
    }
    /// Per thread the blocked kernel's tiles (hayai_attend_prompt_scratch floats each, rounded up to whole cache
    /// lines from a line boundary: one thread's running sums share no line with the next thread's Qᵀ).
    private let tileScratch: UnsafeMutablePointer<Float>
    private let tileScratchFloats: Int
    /// The next work item of a blocked prompt attention, taken by the pool's threads in turn.
    private let nextItem: UnsafeMutablePointer<Int>

    public init(cache: KVCache, heads: Int, kvHeads: Int, headDim: Int, slidingWindow: Int? = nil, batch: Int, pool: ThreadPool) {
        self.cache = cache; self.pool = pool; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        self.slidingWindow = slidingWindow
        let slots = max(1, min(pool.threads, heads)), context = cache.contextLength
        scores = .allocate(capacity: max(batch * slots, heads) * context)
        scores.initialize(repeating: 0, count: max(batch * slots, heads) * context)
        kvWide = .allocate(capacity: slots * 2 * context * headDim)
        kvWide.initialize(repeating: 0, count: slots * 2 * context * headDim)
        tileScratchFloats = (hayai_attend_prompt_scratch(Int32(headDim), Int32(heads / kvHeads)) + 15) / 16 * 16
        tileScratch = UnsafeMutableRawPointer.allocate(byteCount: max(1, pool.threads) * tileScratchFloats * MemoryLayout<Float>.size,
                                                       alignment: 64).bindMemory(to: Float.self, capacity: max(1, pool.threads) * tileScratchFloats)
        tileScratch.initialize(repeating: 0, count: max(1, pool.threads) * tileScratchFloats)
        nextItem = .allocate(capacity: 1)
        nextItem.initialize(to: 0)
    }

    deinit { scores.deallocate(); kvWide.deallocate(); tileScratch.deallocate(); nextItem.deallocate() }

    /// q: (t, heads·d), k/v: (t, kvHeads·d) at positions start..<start+t -> out: (t, heads·d).
    /// Appends k and v to the cache rows of `layer` (converted to its storage type).
    func attend(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows t: Int, layer l: Int, start p0: Int,
                into out: UnsafeMutablePointer<Float>) {
        let d = headDim, qDim = heads * d, kvDim = kvHeads * d, heads = self.heads
        let storage = cache.storage, rowBytes = cache.rowBytes
        let keys = cache.keys[l], values = cache.values[l]
        cache.store(layer: l, keys: k, values: v, rows: t, at: p0, pool: pool)

        let length = p0 + t, scale = 1 / Float(d).squareRoot(), group = heads / kvHeads
        let context = cache.contextLength, slots = min(pool.threads, heads)
        if t == 1 && !(oneQueryBlocked && promptKernel == .blocked) {
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

        if promptKernel == .blocked {
            return attendBlocked(q: q, rows: t, layer: l, start: p0, into: out)
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

    /// Several queries through hayai_attend_prompt: work items are (query rows, kv head), one kv head's
    /// after another and in each the last rows (the most keys) first, taken from a shared counter by one
    /// loop per thread so that each thread keeps its own scratch and a thread that starts late takes fewer.
    /// One head at a time keeps its keys and values in cache from one item to the next (a layer's cache
    /// can outgrow L3: 32 MiB for 32 kv heads of 64 at 2048 positions), and the last items are still the
    /// smallest, so the threads finish together.
    private func attendBlocked(q: UnsafePointer<Float>, rows t: Int, layer l: Int, start p0: Int, into out: UnsafeMutablePointer<Float>) {
        let d = headDim, qDim = heads * d, group = heads / kvHeads, kvHeads = self.kvHeads
        let type = Int32(cache.storage.ggmlType.rawValue), rowBytes = cache.rowBytes
        let keys = UnsafeRawPointer(cache.keys[l]), values = UnsafeRawPointer(cache.values[l])
        let tile = Int(hayai_attend_prompt_tile()), tiles = (t + tile - 1) / tile, items = tiles * kvHeads
        let scale = 1 / Float(d).squareRoot(), window = Int32(slidingWindow ?? 0)
        let scratch = tileScratch, scratchFloats = tileScratchFloats, next = nextItem
        next.pointee = 0
        let slots = min(pool.threads, items)
        let run = { (slot: Int) in
            while true {
                let i = hayai_atomic_fetch_add(next, 1)
                if i >= items { return }
                let kvh = i / tiles, tileIndex = tiles - 1 - i % tiles
                let i0 = tileIndex * tile, i1 = min(t, i0 + tile)
                hayai_attend_prompt(type, q, qDim, keys, values, rowBytes, Int32(d), Int32(group), Int32(kvh), Int32(p0),
                                    Int32(i0), Int32(i1), window, scale, scratch + slot * scratchFloats, out, qDim)
            }
        }
        if slots > 1 { pool.parallelFor(count: slots, body: run) } else { run(0) }
    }

    @inline(__always)
    private func firstAttended(_ position: Int) -> Int {
        ModelConfig.firstAttendedPosition(query: position, window: slidingWindow)
    }
}
