// One sequence running through a model: the decoder's forward pass (Forward.swift) with a KV cache. A prompt is
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
    private var decoder: DecoderForward
    private let attention: CachedAttention
    /// Attention for packed rows (forwardPacked), made on first use.
    private lazy var packedAttention = PackedAttention(cache: cache, heads: model.config.numHeads, kvHeads: model.config.numKVHeads,
                                                       headDim: model.config.headDim, pool: pool)
    /// Rotary tables for the session's positions: (contextLength, rotaryDim / 2).
    private let ropeCos: FloatTensor, ropeSin: FloatTensor
    /// Workers for quantized matrix products (BLAS runs its own threads for Float32 ones).
    public let pool: ThreadPool

    /// - contextLength: positions the cache holds (`Model.contextLength(requested:)`: at most the model's
    ///   `maxPositions` and ModelConfig.contextLimit; default 4096).
    /// - batchSize: the most prompt tokens processed in one pass.
    /// - threads: threads for matrix products and attention (default: all cores).
    /// - kvType: how the KV cache stores keys and values (Q8_0 needs kvDim a multiple of 32, else F16).
    public init(model: Model, contextLength: Int? = nil, batchSize: Int = 256, threads: Int? = nil, kvType: KVStorage = .f32) {
        self.model = model
        self.pool = ThreadPool(threads: threads ?? ThreadPool.availableCores)
        let c = model.config
        let ctx = model.contextLength(requested: contextLength)
        self.cache = KVCache(layers: c.numLayers, contextLength: ctx, kvDim: c.numKVHeads * c.headDim, storage: kvType)
        self.batchSize = max(1, min(batchSize, ctx))
        self.buffers = Buffers(config: c, batch: self.batchSize)
        self.attention = CachedAttention(cache: cache, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: c.headDim,
                                         slidingWindow: c.slidingWindow, batch: self.batchSize,
                                         pool: pool)
        let (cos, sin) = Ops.ropeTables(positions: ctx, inverseFrequencies: c.ropeInverseFrequencies)
        ropeCos = FloatTensor(values: cos, shape: [ctx, c.rotaryDim / 2])
        ropeSin = FloatTensor(values: sin, shape: [ctx, c.rotaryDim / 2])
        self.decoder = DecoderForward(plan: model.plan, ropeCos: ropeCos.pointer, ropeSin: ropeSin.pointer, pool: pool)
    }

    /// How the cache stores keys and values.
    public var kvType: KVStorage { cache.storage }
    /// How a prompt's queries attend (the blocked kernel; the full-score reference in tests).
    var promptAttention: CachedAttention.PromptKernel {
        get { attention.promptKernel }
        set { attention.promptKernel = newValue }
    }

    public var position: Int { cache.count }

    /// Whether a row's results are the same bits however many rows share its forward, as scoring needs: an eval
    /// item packed with others (forwardPacked) then scores exactly as alone. One query attends through the blocked
    /// kernel, and quantized matrices in the GGUF row layout take integer dots at every row count instead of sgemm
    /// from a crossover on (quantized activations for some rows and Float32 ones for others moved log-likelihoods
    /// by up to ~0.5 nats on SmolLM2 Q4_1). Generation leaves it off: its one-token passes are faster.
    public var batchInvariant: Bool {
        get { decoder.batchInvariant }
        set { decoder.batchInvariant = newValue; attention.oneQueryBlocked = newValue }
    }

    /// Times the forward pass's ops while set (PromptProfile splits what the products leave with it); nil reads no clock.
    var profile: StepProfile? {
        get { decoder.profile }
        set { decoder.profile = newValue }
    }

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

    /// Runs the new rows of several sequences packed after what the cache holds (an eval batch): `tokens` take
    /// slots position..<position+tokens.count, each `segments` entry says which of them form one sequence, at what
    /// positions, and what cached slots they see (PackedSegment; every new row belongs to one segment). Calls
    /// `onLogits(i, row)` with the logits of `logitRows[i]` (indices into `tokens`, ascending) as they are computed:
    /// only those rows go through the output head. The cache then holds the packed rows, which are not one
    /// sequence: `tokens` lists them, and the caller rewinds to what is shared before running anything else.
    /// Sliding-window attention is not supported (InferenceError.unsupported).
    public func forwardPacked(_ newTokens: [Int], segments: [PackedSegment], logitRows: [Int],
                              onLogits: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard !newTokens.isEmpty else { throw InferenceError.emptyInput }
        guard model.config.slidingWindow == nil else { throw InferenceError.invalidSetting("packed scoring does not support sliding-window attention") }
        let vocab = model.config.vocabSize, hidden = model.config.hiddenSize
        for id in newTokens where id < 0 || id >= vocab { throw InferenceError.invalidToken(id: id, vocabularySize: vocab) }
        guard position + newTokens.count <= contextLength else {
            throw InferenceError.contextOverflow(tokens: position + newTokens.count, context: contextLength)
        }
        let base = position
        var positions = [Int32](repeating: -1, count: newTokens.count)
        for s in segments {
            precondition(s.slots.lowerBound >= base && s.slots.upperBound <= base + newTokens.count, "a segment outside the new rows")
            precondition(s.sees.allSatisfy { $0.upperBound <= s.slots.lowerBound }, "a segment that sees rows after its own")
            precondition(s.firstPosition + s.slots.count <= contextLength, "a segment past the context")
            for (i, slot) in s.slots.enumerated() { positions[slot - base] = Int32(s.firstPosition + i) }
        }
        precondition(!positions.contains(-1), "a new row in no segment")
        var nextLogit = 0
        var start = 0
        while start < newTokens.count {
            let end = min(start + batchSize, newTokens.count), t = end - start, p0 = cache.count
            let w = model.weights, b = buffers
            decoder.embed(newTokens[start..<end], w, into: b.x)
            try positions.withUnsafeBufferPointer { all in
                let rowPositions = all.baseAddress! + start
                try decoder.layers(w, rows: t, activations: { _ in b.layer },
                                   attention: { .packed(self.packedAttention, layer: $0, start: p0, segments: segments, positions: rowPositions) },
                                   beforeLayer: { try Interrupt.check() })
            }
            cache.count = p0 + t
            tokens.append(contentsOf: newTokens[start..<end])
            // The wanted rows of this chunk, gathered, through the final norm and the output head.
            var wanted = 0
            while nextLogit + wanted < logitRows.count, logitRows[nextLogit + wanted] < end {
                let r = logitRows[nextLogit + wanted] - start
                precondition(r >= 0, "logitRows not ascending")
                (b.h2 + wanted * hidden).update(from: b.x + r * hidden, count: hidden)
                wanted += 1
            }
            if wanted > 0 {
                decoder.logits(w, b.h2, rows: wanted, normed: b.h, into: b.logits)
                if let i = FiniteScan.firstNonFinite(.f32, b.logits, elements: wanted * vocab) {
                    throw InferenceError.nonFiniteLogits(path: model.path, position: Int(positions[logitRows[nextLogit + i / vocab]]))
                }
                for i in 0..<wanted {
                    try onLogits(nextLogit + i, UnsafeBufferPointer(start: b.logits + i * vocab, count: vocab))
                }
                nextLogit += wanted
            }
            start = end
        }
    }

    // MARK: - The decoder

    /// Forward pass of t ≤ batchSize tokens at positions position..<position+t (Forward.swift); appends
    /// their keys and values to the cache and leaves logits in buffers.logits (last row, or every row).
    /// An interrupt between layers leaves the cache as it was (its count moves only at the end).
    private func runBatch<C: Collection>(_ batch: C, logits wanted: LogitsWanted) throws where C.Element == Int {
        let w = model.weights, b = buffers
        let t = batch.count, hidden = model.config.hiddenSize, p0 = cache.count
        decoder.embed(batch, w, into: b.x)
        try decoder.layers(w, rows: t, activations: { _ in b.layer }, attention: { .cached(self.attention, layer: $0, start: p0) },
                       beforeLayer: { try Interrupt.check() })
        cache.count = p0 + t
        tokens.append(contentsOf: batch)

        switch wanted {
        case .none: return
        case .last: decoder.logits(w, b.x + (t - 1) * hidden, rows: 1, normed: b.h, into: b.logits)
        case .all: decoder.logits(w, b.x, rows: t, normed: b.h, into: b.logits)
        }
        // Finite weights can still overflow (FiniteScan checked them at load): NaN logits would be
        // printed as null or sampled as token 0 without a word, so they are an error. One pass over the rows.
        let vocab = model.config.vocabSize, rows = wanted == .all ? t : 1
        if let i = FiniteScan.firstNonFinite(.f32, b.logits, elements: rows * vocab) {
            throw InferenceError.nonFiniteLogits(path: model.path, position: p0 + (wanted == .all ? i / vocab : t - 1))
        }
    }
}

/// Activation buffers for one session, sized for `batch` tokens; every layer writes the same ones
/// (the residual stream x is updated in place).
private final class Buffers {
    let x, h, h2, q, k, v, qkv, attnHeads, attnOut, mlpOut, up, gate, logits: UnsafeMutablePointer<Float>
    let layer: LayerActivations
    private var all: [UnsafeMutablePointer<Float>] = []

    init(config c: ModelConfig, batch t: Int) {
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
        logits = alloc(t * c.vocabSize)
        layer = LayerActivations(input: x, output: x, mid: x, ln1: h, ln2: h2, qkv: qkv, qProj: q, kProj: k, q: q, k: k, v: v,
                                 heads: attnHeads, attnOut: attnOut, mlpOut: mlpOut, gate: gate, up: up, act: up)
        all = [x, h, h2, q, k, v, qkv, attnHeads, attnOut, mlpOut, up, gate, logits]
    }

    deinit { all.forEach { $0.deallocate() } }
}
