// One sequence running through a model: the decoder's forward pass with a KV cache. A prompt is
// processed in batches of up to `batchSize` tokens (matrix-matrix products through BLAS), later
// tokens one at a time (matrix-vector). All activation buffers are allocated once, here; a decoding
// step allocates nothing.
import Foundation
import Checkpoints
import Kernels

/// Which positions' logits a forward call returns.
public enum LogitsWanted: Sendable {
    case last, all, none
}

public final class InferenceSession {
    public let model: Model
    public let cache: KVCache
    public let batchSize: Int
    public var contextLength: Int { cache.contextLength }
    /// Tokens in the cache, in order (the conversation so far).
    public private(set) var tokens: [Int] = []

    private let buffers: Buffers
    /// Workers for quantized matrix products (BLAS runs its own threads for Float32 ones).
    public let pool: ThreadPool

    /// - contextLength: positions the cache holds (at most the model's `maxPositions`).
    /// - batchSize: the most prompt tokens processed in one pass.
    /// - threads: threads for matrix products and attention (default: all cores).
    /// - kvType: how the KV cache stores keys and values (Q8_0 needs kvDim a multiple of 32, else F16).
    public init(model: Model, contextLength: Int? = nil, batchSize: Int = 256, threads: Int? = nil, kvType: KVStorage = .f32) {
        self.model = model
        self.pool = ThreadPool(threads: threads ?? ThreadPool.availableCores)
        let c = model.config
        let ctx = min(contextLength ?? min(c.maxPositions, 4096), c.maxPositions)
        self.cache = KVCache(layers: c.numLayers, contextLength: ctx, kvDim: c.numKVHeads * c.headDim, storage: kvType)
        self.batchSize = max(1, min(batchSize, ctx))
        self.buffers = Buffers(config: c, batch: self.batchSize, context: ctx, threads: pool.threads)
    }

    /// How the cache stores keys and values.
    public var kvType: KVStorage { cache.storage }

    public var position: Int { cache.count }

    public func reset() {
        cache.reset()
        tokens.removeAll(keepingCapacity: true)
    }

    /// Drops every position from `n` on, keeping the first `n` tokens' keys and values.
    public func rewind(to n: Int) {
        cache.truncate(to: n)
        tokens.removeLast(tokens.count - n)
    }

    /// Runs `newTokens` after what the cache holds and returns logits: (vocab) for `.last`,
    /// (newTokens.count, vocab) row-major for `.all`, empty for `.none`. Throws `Interrupted` when
    /// Ctrl-C arrives (checked between batches and layers); the batches done before it stay cached.
    public func forward(_ newTokens: [Int], logits wanted: LogitsWanted = .last) throws -> [Float] {
        guard !newTokens.isEmpty else { throw InferenceError.emptyInput }
        let vocab = model.config.vocabSize
        for id in newTokens where id < 0 || id >= vocab { throw InferenceError.invalidToken(id: id, vocabularySize: vocab) }
        guard position + newTokens.count <= contextLength else {
            throw InferenceError.contextOverflow(tokens: position + newTokens.count, context: contextLength)
        }
        var out: [Float] = []
        if wanted == .all { out.reserveCapacity(newTokens.count * vocab) }
        var start = 0
        while start < newTokens.count {
            let end = min(start + batchSize, newTokens.count)
            let chunk = Array(newTokens[start..<end])
            let isLastChunk = end == newTokens.count
            let rows: LogitsWanted = wanted == .all ? .all : (isLastChunk ? wanted : .none)
            try runBatch(chunk, logits: rows)
            switch rows {
            case .all: out.append(contentsOf: UnsafeBufferPointer(start: buffers.logits, count: chunk.count * vocab))
            case .last: out = Array(UnsafeBufferPointer(start: buffers.logits, count: vocab))
            case .none: break
            }
            start = end
        }
        return out
    }

    /// One decoding step: runs `token` and returns a view of the next-token logits (valid until the
    /// next call). Allocates nothing.
    public func step(_ token: Int) throws -> UnsafeBufferPointer<Float> {
        let vocab = model.config.vocabSize
        guard token >= 0 && token < vocab else { throw InferenceError.invalidToken(id: token, vocabularySize: vocab) }
        guard position < contextLength else { throw InferenceError.contextOverflow(tokens: position + 1, context: contextLength) }
        try runBatch(CollectionOfOne(token), logits: .last)
        return UnsafeBufferPointer(start: buffers.logits, count: vocab)
    }

    // MARK: - The decoder

    /// Forward pass of t ≤ batchSize tokens at positions position..<position+t; appends their keys and
    /// values to the cache and leaves logits in buffers.logits (last row first, or every row).
    /// An interrupt between layers leaves the cache as it was (its count moves only at the end).
    private func runBatch<C: Collection>(_ batch: C, logits wanted: LogitsWanted) throws where C.Element == Int {
        let c = model.config, w = model.weights, b = buffers
        let t = batch.count, hidden = c.hiddenSize, p0 = cache.count

        // x: (t, hidden) = embedding rows
        for (r, id) in batch.enumerated() {
            w.embedding.copyRow(id, into: b.x + r * hidden)
        }
        for l in 0..<c.numLayers {
            try Interrupt.check()
            let lw = w.layers[l]
            norm(lw.attnNorm, b.x, t: t, into: b.h)
            attention(layer: l, lw, input: b.h, t: t, p0: p0, into: b.attnOut)
            if c.parallelResidual {
                // x = x + attn(ln1(x)) + mlp(ln2(x)); StableLM's parallel block feeds the MLP ln1(x).
                let mlpIn: UnsafeMutablePointer<Float>
                if let mlpNorm = lw.mlpNorm { norm(mlpNorm, b.x, t: t, into: b.h2); mlpIn = b.h2 } else { mlpIn = b.h }
                mlp(lw, input: mlpIn, t: t, into: b.mlpOut)
                add(b.x, b.attnOut, count: t * hidden)
                add(b.x, b.mlpOut, count: t * hidden)
            } else {
                add(b.x, b.attnOut, count: t * hidden)
                norm(lw.mlpNorm!, b.x, t: t, into: b.h2)
                mlp(lw, input: b.h2, t: t, into: b.mlpOut)
                add(b.x, b.mlpOut, count: t * hidden)
            }
        }
        cache.count = p0 + t
        tokens.append(contentsOf: batch)

        switch wanted {
        case .none: return
        case .last:
            norm(w.finalNorm, b.x + (t - 1) * hidden, t: 1, into: b.h)
            w.output.multiply(b.h, t: 1, into: b.logits, pool: pool)
        case .all:
            norm(w.finalNorm, b.x, t: t, into: b.h)
            w.output.multiply(b.h, t: t, into: b.logits, pool: pool)
        }
    }

    /// x: (t, hidden) -> out: (t, hidden)
    private func norm(_ n: Norm, _ x: UnsafePointer<Float>, t: Int, into out: UnsafeMutablePointer<Float>) {
        let c = model.config
        switch c.norm {
        case .layerNorm:
            FastOps.layerNorm(x, t: t, c: c.hiddenSize, weight: n.weight.pointer, bias: n.bias?.pointer, eps: c.normEps, into: out)
        case .rmsNorm:
            FastOps.rmsNorm(x, t: t, c: c.hiddenSize, weight: n.weight.pointer, eps: c.normEps, into: out)
        }
    }

    /// Causal self-attention of t new tokens over the p0 cached positions and themselves.
    /// input: (t, hidden) -> out: (t, hidden) (after the output projection)
    private func attention(layer l: Int, _ lw: LayerWeights, input: UnsafePointer<Float>, t: Int, p0: Int,
                           into out: UnsafeMutablePointer<Float>) {
        let c = model.config, b = buffers
        let d = c.headDim, heads = c.numHeads, kvHeads = c.numKVHeads
        let qDim = heads * d, kvDim = kvHeads * d

        // Projections: q (t, qDim), k and v (t, kvDim).
        if let qkv = lw.qkv {
            qkv(input, t: t, into: b.qkv, pool: pool)
            let width = qDim + 2 * kvDim
            for r in 0..<t {
                let row = b.qkv + r * width
                switch c.fusedQKV! {
                case .perHead:   // per head: [q, k, v] of d each (GPT-NeoX in HF layout; heads == kvHeads)
                    for h in 0..<heads {
                        (b.q + r * qDim + h * d).update(from: row + h * 3 * d, count: d)
                        (b.k + r * kvDim + h * d).update(from: row + h * 3 * d + d, count: d)
                        (b.v + r * kvDim + h * d).update(from: row + h * 3 * d + 2 * d, count: d)
                    }
                case .blocked:   // all q, then all k, then all v (llama.cpp's fused layout)
                    (b.q + r * qDim).update(from: row, count: qDim)
                    (b.k + r * kvDim).update(from: row + qDim, count: kvDim)
                    (b.v + r * kvDim).update(from: row + qDim + kvDim, count: kvDim)
                }
            }
        } else {
            together(lw.q!, b.q, lw.k!, b.k, lw.v, b.v, input: input, t: t)
        }

        // Per-head LayerNorm on q and k (weight per head, no bias), then RoPE at each position.
        if let qNorm = lw.qNorm, let kNorm = lw.kNorm {
            for r in 0..<t {
                for h in 0..<heads {
                    let v = b.q + r * qDim + h * d
                    FastOps.layerNorm(v, t: 1, c: d, weight: qNorm.pointer + h * d, bias: nil, eps: c.normEps, into: v)
                }
                for h in 0..<kvHeads {
                    let v = b.k + r * kvDim + h * d
                    FastOps.layerNorm(v, t: 1, c: d, weight: kNorm.pointer + h * d, bias: nil, eps: c.normEps, into: v)
                }
            }
        }
        if c.rotaryDim > 0 {
            let half = c.rotaryDim / 2, adjacent = c.ropeStyle == .adjacent
            for r in 0..<t {
                let cosRow = model.ropeCos.pointer + (p0 + r) * half, sinRow = model.ropeSin.pointer + (p0 + r) * half
                Ops.rope(b.q + r * qDim, heads: heads, headDim: d, rotaryDim: c.rotaryDim, cos: cosRow, sin: sinRow, adjacentPairs: adjacent)
                Ops.rope(b.k + r * kvDim, heads: kvHeads, headDim: d, rotaryDim: c.rotaryDim, cos: cosRow, sin: sinRow, adjacentPairs: adjacent)
            }
        }

        // Keys and values into the cache rows p0..<p0+t (converted to its storage type).
        let storage = cache.storage, rowBytes = cache.rowBytes
        let keys = cache.keys[l], values = cache.values[l]
        for r in 0..<t {
            storage.store(b.k + r * kvDim, elements: kvDim, into: keys + (p0 + r) * rowBytes)
            storage.store(b.v + r * kvDim, elements: kvDim, into: values + (p0 + r) * rowBytes)
        }

        let length = p0 + t, scale = 1 / Float(d).squareRoot(), group = heads / kvHeads
        if t == 1 {
            // One query: scores over the cache, softmax and the weighted sum of values in AVX2 passes
            // that read each cache row once for a range of heads (BLAS calls per head cost more than
            // they compute at these sizes); the heads split into one range per thread.
            let scores = b.scores, context = cache.contextLength, slots = min(pool.threads, heads)
            pool.parallelFor(count: slots) { slot in
                storage.attend(queries: b.q, heads: (heads * slot / slots)..<(heads * (slot + 1) / slots), group: group,
                               keys: keys, values: values, rowBytes: rowBytes, d: d, length: length, scale: scale,
                               scores: scores, ldScores: context, into: b.attnHeads)
            }
            lw.o(b.attnHeads, t: 1, into: out, pool: pool)
            return
        }

        // Several queries, per head: scores (t, L) = q_h · K_hᵀ / √d, causal mask, softmax, then
        // out_h (t, d) = P · V_h, through single-threaded sgemm calls; the heads are split over the
        // pool's threads, each with its own scratch. A cache that is not F32 is widened per kv head.
        let context = cache.contextLength, slots = min(pool.threads, heads)
        let attendHeads = { (slot: Int) in
            let scores = b.scores + slot * t * context, wide = b.kvWide + slot * 2 * context * d
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
                let qh = b.q + h * d, oh = b.attnHeads + h * d
                BLAS.gemm(transA: false, transB: true, m: t, n: length, k: d, alpha: scale, a: qh, lda: qDim, b: kh, ldb: ld,
                          c: scores, ldc: length)
                for r in 0..<t {
                    let row = scores + r * length
                    let visible = p0 + r + 1
                    for j in visible..<length { row[j] = 0 }
                    FastOps.softmax(row, n: visible)
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
        lw.o(b.attnHeads, t: t, into: out, pool: pool)
    }

    /// input: (t, hidden) -> out: (t, hidden)
    private func mlp(_ lw: LayerWeights, input: UnsafePointer<Float>, t: Int, into out: UnsafeMutablePointer<Float>) {
        let b = buffers, n = t * model.config.intermediateSize
        switch model.config.mlp {
        case .gatedSiLU:
            together(lw.up, b.up, lw.gate!, b.gate, nil, nil, input: input, t: t)
            FastOps.siluMul(b.up, gate: b.gate, count: n)
        case .gelu:
            lw.up(input, t: t, into: b.up, pool: pool)
            for i in 0..<n { b.up[i] = Ops.gelu(b.up[i]) }
        case .geluTanh:
            lw.up(input, t: t, into: b.up, pool: pool)
            for i in 0..<n { b.up[i] = Ops.geluTanh(b.up[i]) }
        }
        lw.down(b.up, t: t, into: out, pool: pool)
    }

    /// Two or three linear layers of the same input: for one token with quantized weights, one pass
    /// over the pool (QuantizedMatrix.matVec(_:into:_:into:_:into:x:pool:)); otherwise one by one.
    private func together(_ l1: Linear, _ y1: UnsafeMutablePointer<Float>, _ l2: Linear, _ y2: UnsafeMutablePointer<Float>,
                          _ l3: Linear?, _ y3: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>, t: Int) {
        if t == 1, case .quantized(let a, _) = l1.weight, case .quantized(let b, _) = l2.weight {
            var c: QuantizedMatrix?
            if let l3, case .quantized(let m, _) = l3.weight { c = m }
            if l3 == nil || c != nil {
                QuantizedMatrix.matVec(a, into: y1, b, into: y2, c, into: y3, x: input, pool: pool)
                addBias(l1, y1); addBias(l2, y2)
                if let l3, let y3 { addBias(l3, y3) }
                return
            }
        }
        l1(input, t: t, into: y1, pool: pool)
        l2(input, t: t, into: y2, pool: pool)
        if let l3, let y3 { l3(input, t: t, into: y3, pool: pool) }
    }

    @inline(__always) private func addBias(_ l: Linear, _ y: UnsafeMutablePointer<Float>) {
        if let bias = l.bias { FastOps.add(y, bias.pointer, count: l.outFeatures) }
    }

    @inline(__always) private func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        FastOps.add(x, y, count: count)
    }
}

/// Activation buffers for one session, sized for `batch` tokens and `context` positions.
private final class Buffers {
    let x, h, h2, q, k, v, qkv, attnHeads, attnOut, mlpOut, up, gate, scores, kvWide, logits: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []

    init(config c: ModelConfig, batch t: Int, context: Int, threads: Int) {
        func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
            return p
        }
        let qDim = c.numHeads * c.headDim, kvDim = c.numKVHeads * c.headDim
        x = alloc(t * c.hiddenSize); h = alloc(t * c.hiddenSize); h2 = alloc(t * c.hiddenSize)
        q = alloc(t * qDim); k = alloc(t * kvDim); v = alloc(t * kvDim)
        qkv = alloc(c.fusedQKV != nil ? t * (qDim + 2 * kvDim) : 0)
        attnHeads = alloc(t * qDim)
        attnOut = alloc(t * c.hiddenSize); mlpOut = alloc(t * c.hiddenSize)
        up = alloc(t * c.intermediateSize)
        gate = alloc(c.mlp == .gatedSiLU ? t * c.intermediateSize : 0)
        let slots = max(1, min(threads, c.numHeads))
        scores = alloc(max(t * slots, c.numHeads) * context)   // per thread one row per query, or per head for one token
        kvWide = alloc(slots * 2 * context * c.headDim)       // per thread one kv head's keys and values as Float32
        logits = alloc(t * c.vocabSize)
        all = [x, h, h2, q, k, v, qkv, attnHeads, attnOut, mlpOut, up, gate, scores, kvWide, logits]
    }

    deinit { all.forEach { $0.deallocate() } }
}
