// Attention for packed rows: the new tokens of several sequences in one forward after a KV cache they
// share (an eval batch: each item's context after the few-shot prefix the items have in common, each
// choice after its item's context). A segment's rows see some cache ranges in full (the shared prefix,
// the context a continuation follows) and their own rows causally. What a segment sees is gathered per
// kv head into one block, which is then one causal sequence for the blocked kernel CachedAttention runs
// (hayai_attend_prompt: query tiles against key tiles with a running softmax), so a segment costs only
// what it sees: no block-diagonal mask computed and thrown away, no score rows longer than a key tile.
import Foundation
import Kernels
import CKernels

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
    /// Per thread the blocked kernel's tiles (hayai_attend_prompt_scratch floats each).
    private let tileScratch: UnsafeMutablePointer<Float>
    private let tileScratchFloats: Int
    /// Per thread: the keys and then the values one segment sees for one kv head, (contextLength, d) each.
    private let gathered: UnsafeMutablePointer<Float>
    /// Query rows per call of the blocked kernel.
    static var queryTile: Int { Int(hayai_attend_prompt_tile()) }
    /// The next (segment, kv head) work item of an attend, taken by the pool's threads in turn.
    private let nextItem: UnsafeMutablePointer<Int>

    init(cache: KVCache, heads: Int, kvHeads: Int, headDim: Int, pool: ThreadPool) {
        self.cache = cache; self.pool = pool; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
        let slots = max(1, min(pool.threads, heads)), context = cache.contextLength
        tileScratchFloats = hayai_attend_prompt_scratch(Int32(headDim), Int32(heads / kvHeads))
        tileScratch = .allocate(capacity: slots * tileScratchFloats)
        gathered = .allocate(capacity: slots * 2 * context * headDim)
        nextItem = .allocate(capacity: 1)
        nextItem.initialize(to: 0)
    }

    deinit { tileScratch.deallocate(); gathered.deallocate(); nextItem.deallocate() }

    /// q: (t, heads·d), k/v: (t, kvHeads·d) for cache slots start..<start+t -> out: (t, heads·d). Appends k and v
    /// to the cache rows of `layer`; `segments` say what each row sees (those outside the t rows are skipped).
    func attend(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows t: Int, layer l: Int, start p0: Int,
                segments: [PackedSegment], into out: UnsafeMutablePointer<Float>) {
        cache.store(layer: l, keys: k, values: v, rows: t, at: p0, pool: pool)
        let d = headDim, qDim = heads * d, heads = self.heads
        let storage = cache.storage, rowBytes = cache.rowBytes, keys = cache.keys[l], values = cache.values[l]
        // Work items are (segment, kv head), the costliest segments first, taken from a shared counter by one
        // loop per thread (each with its own scratch): 9 heads split in two fixed ranges left one thread 4 and
        // the other 5, and a thread that another process delays now takes fewer items instead of holding up the rest.
        let here = segments.filter { $0.slots.overlaps(p0..<(p0 + t)) }.map { segment -> (PackedSegment, cost: Int) in
            let hi = min(segment.slots.upperBound, p0 + t), rows = hi - max(segment.slots.lowerBound, p0)
            return (segment, rows * (segment.sees.reduce(0) { $0 + $1.count } + hi - segment.slots.lowerBound))
        }.sorted { $0.cost > $1.cost }.map(\.0)
        let scale = 1 / Float(d).squareRoot(), group = heads / kvHeads, context = cache.contextLength, kvHeads = self.kvHeads
        let items = here.count * kvHeads, next = nextItem
        let slots = max(1, min(pool.threads, heads, items)), gatheredBase = gathered
        next.pointee = 0
        let tile = Self.queryTile, scratchFloats = tileScratchFloats, scratchBase = tileScratch
        let attendHeads = { (slot: Int) in
            let tileScratch = scratchBase + slot * scratchFloats
            let wideK = gatheredBase + slot * 2 * context * d, wideV = wideK + context * d
            while true {
                let item = hayai_atomic_fetch_add(next, 1)
                if item >= items { return }
                let segment = here[item / kvHeads], kvh = item % kvHeads
                let lo = max(segment.slots.lowerBound, p0), hi = min(segment.slots.upperBound, p0 + t)
                // What the rows lo..<hi see: the ranges in full, then the segment's own rows up to hi.
                let ranges = segment.sees + [segment.slots.lowerBound..<hi]
                let length = ranges.reduce(0) { $0 + $1.count }
                var at = 0
                for range in ranges where !range.isEmpty {
                    storage.rowsAsFloat(keys + range.lowerBound * rowBytes, rowBytes: rowBytes, offset: kvh * d, d: d,
                                        rows: range.count, into: wideK + at * d)
                    storage.rowsAsFloat(values + range.lowerBound * rowBytes, rowBytes: rowBytes, offset: kvh * d, d: d,
                                        rows: range.count, into: wideV + at * d)
                    at += range.count
                }
                // The gathered keys are one causal sequence: row s of the segment sits at position seen + (s − first
                // slot). The blocked kernel (hayai_attend_prompt, as CachedAttention runs it) attends the group's query
                // heads over it in tiles of query rows, kv head 0 of rows d wide, with q and out moved to the group's heads.
                let seen = length - (hi - segment.slots.lowerBound), heads0 = kvh * group * d
                let qSegment = q + (lo - p0) * qDim + heads0, outSegment = out + (lo - p0) * qDim + heads0
                let first = Int32(seen + lo - segment.slots.lowerBound)
                var i0 = 0
                while i0 < hi - lo {
                    let i1 = min(i0 + tile, hi - lo)
                    hayai_attend_prompt(0, qSegment, qDim, UnsafeRawPointer(wideK), UnsafeRawPointer(wideV), d * MemoryLayout<Float>.size,
                                        Int32(d), Int32(group), 0, first, Int32(i0), Int32(i1), 0, scale, tileScratch, outSegment, qDim)
                    i0 = i1
                }
            }
        }
        if slots > 1 { pool.parallelFor(count: slots, body: attendHeads) } else { attendHeads(0) }
    }
}
