// The decoder's forward pass, written once. Inference (InferenceSession) runs it over the new tokens
// of one sequence with a KV cache and whatever weights the checkpoint has (F32, F16/BF16 or packed
// quantized); training (TrainingModel) runs it over B×T tokens with its Float32 parameters and keeps
// every activation its backward reads. What differs is only where the layer writes (LayerActivations:
// shared scratch for inference, per-layer buffers for training) and the attention core
// (AttentionCore: cached or causal over whole sequences). The switches are DecoderPlan's enums.
import Foundation
import Checkpoints
import Kernels

/// Per-row statistics a norm keeps for its backward: (rows) each; the mean is unused for RMSNorm.
public struct NormStats {
    public let mean: UnsafeMutablePointer<Float>
    public let rstd: UnsafeMutablePointer<Float>
    public init(mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) { self.mean = mean; self.rstd = rstd }
}

/// Where one layer's forward reads its input and writes what it computes, for n rows. Inference points
/// input, mid and output at one residual buffer (updated in place), qProj/kProj at q/k and act at up,
/// and keeps no statistics; training gives every layer buffers of its own.
public struct LayerActivations {
    public var input: UnsafeMutablePointer<Float>          // (n, hidden): the residual stream entering
    public var output: UnsafeMutablePointer<Float>         // (n, hidden): after the layer (may be input)
    public var mid: UnsafeMutablePointer<Float>            // (n, hidden): input + attention, sequential wiring (may be input)
    public var ln1: UnsafeMutablePointer<Float>, ln1Stats: NormStats?
    public var ln2: UnsafeMutablePointer<Float>, ln2Stats: NormStats?    // the MLP's norm, when the wiring has one
    public var qkv: UnsafeMutablePointer<Float>            // (n, qDim + 2·kvDim): a fused projection's output
    public var qProj: UnsafeMutablePointer<Float>          // (n, qDim) before the per-head norm (may be q)
    public var kProj: UnsafeMutablePointer<Float>          // (n, kvDim) before the per-head norm (may be k)
    public var qNormStats: NormStats?, kNormStats: NormStats?   // (n·heads), (n·kvHeads)
    public var q, k, v: UnsafeMutablePointer<Float>        // after norms and RoPE
    public var heads: UnsafeMutablePointer<Float>          // (n, qDim): attention before the output projection
    public var attnOut, mlpOut: UnsafeMutablePointer<Float>   // (n, hidden)
    public var gate, up, act: UnsafeMutablePointer<Float>     // (n, intermediate); act may be up

    public init(input: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, mid: UnsafeMutablePointer<Float>,
                ln1: UnsafeMutablePointer<Float>, ln1Stats: NormStats? = nil, ln2: UnsafeMutablePointer<Float>, ln2Stats: NormStats? = nil,
                qkv: UnsafeMutablePointer<Float>, qProj: UnsafeMutablePointer<Float>, kProj: UnsafeMutablePointer<Float>,
                qNormStats: NormStats? = nil, kNormStats: NormStats? = nil,
                q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                heads: UnsafeMutablePointer<Float>, attnOut: UnsafeMutablePointer<Float>, mlpOut: UnsafeMutablePointer<Float>,
                gate: UnsafeMutablePointer<Float>, up: UnsafeMutablePointer<Float>, act: UnsafeMutablePointer<Float>) {
        self.input = input; self.output = output; self.mid = mid; self.ln1 = ln1; self.ln1Stats = ln1Stats
        self.ln2 = ln2; self.ln2Stats = ln2Stats; self.qkv = qkv; self.qProj = qProj; self.kProj = kProj
        self.qNormStats = qNormStats; self.kNormStats = kNormStats; self.q = q; self.k = k; self.v = v
        self.heads = heads; self.attnOut = attnOut; self.mlpOut = mlpOut; self.gate = gate; self.up = up; self.act = act
    }
}

/// The attention between RoPE and the output projection: q, k, v (after RoPE) -> heads.
public enum AttentionCore {
    /// Inference: n new tokens after `start` cached positions of one sequence; their keys and values
    /// are appended to the cache of `layer`.
    case cached(CachedAttention, layer: Int, start: Int)
    /// Training: `batch` sequences of `seqLen` rows, causal within each sequence and, with `positions`,
    /// within each packed document; keeps what the backward needs in `saved` (CausalAttention.savedFloats:
    /// each row's log-sum-exp) and works in `scratch` (CausalAttention.scratchFloats).
    /// With a pool, sequences × kv heads run on its threads (CausalAttention).
    case causal(batch: Int, seqLen: Int, positions: UnsafePointer<Int32>?, saved: UnsafeMutablePointer<Float>,
                scratch: UnsafeMutablePointer<Float>, pool: ThreadPool?)
    /// Inference: n new rows of several sequences after `start` cached slots, row r at RoPE position
    /// positions[r], each seeing what its segment says; keys and values are appended to the cache of `layer`.
    case packed(PackedAttention, layer: Int, start: Int, segments: [PackedSegment], positions: UnsafePointer<Int32>)

    /// Where each row sits for RoPE.
    var positions: RowPositions {
        switch self {
        case .cached(_, _, let start): return .consecutive(from: start)
        case .causal(_, let seqLen, let positions, _, _, _): return .perSequence(seqLen: seqLen, packed: positions)
        case .packed(_, _, _, _, let positions): return .listed(positions)
        }
    }
}

public struct DecoderForward {
    public let plan: DecoderPlan
    /// RoPE tables: (positions, rotaryDim / 2).
    public let ropeCos: UnsafePointer<Float>, ropeSin: UnsafePointer<Float>
    /// Workers for packed and half-precision products (nil: BLAS's own threads).
    public let pool: ThreadPool?
    /// Training's per-op profile (`train pretrain --profile`); nil reads no clock.
    public var profile: StepProfile?
    /// Whether every row gets the same bits whatever rows share the forward (scoring; see
    /// WeightMatrix.multiply): quantized matrices multiply every row count with integer dots.
    public var batchInvariant = false
    /// Threads for LoRA updates (LoRAAdapter.add); nil: `pool`. Training over Float32 weights multiplies
    /// them on BLAS's threads (no `pool`) but splits the adapters' thin products over its own.
    public var adapterPool: ThreadPool?

    public init(plan: DecoderPlan, ropeCos: UnsafePointer<Float>, ropeSin: UnsafePointer<Float>, pool: ThreadPool?) {
        self.plan = plan; self.ropeCos = ropeCos; self.ropeSin = ropeSin; self.pool = pool
    }

    var config: ModelConfig { plan.config }

    /// ids: (n) -> x: (n, hidden), the embedding rows.
    public func embed<C: Collection>(_ ids: C, _ w: DecoderWeights, into x: UnsafeMutablePointer<Float>) where C.Element == Int {
        let hidden = config.hiddenSize
        profile.measure(.embedding) { for (r, id) in ids.enumerated() { w.embedding.copyRow(id, into: x + r * hidden) } }
    }

    /// Every layer in order over n rows; layer l reads and writes `activations(l)`. `beforeLayer` runs
    /// between layers, where stopping leaves no half-written state (inference checks `Interrupt` there).
    /// Where layer l + 1 reads what layer l writes and keeps no norm statistics, layer l's last residual
    /// add also writes layer l + 1's first norm (one pass over the rows instead of two).
    public func layers(_ w: DecoderWeights, rows n: Int, activations: (Int) -> LayerActivations, attention: (Int) -> AttentionCore,
                       beforeLayer: () throws -> Void) rethrows {
        var inputNormed = false
        for l in 0..<config.numLayers {
            try beforeLayer()
            let a = activations(l)
            var next: NormTarget?
            if l + 1 < config.numLayers {
                let b = activations(l + 1)
                if b.input == a.output, b.ln1Stats == nil { next = NormTarget(norm: w.layers[l + 1].attnNorm, into: b.ln1, stats: nil) }
            }
            layer(w.layers[l], a, rows: n, attention: attention(l), inputNormed: inputNormed, normNext: next)
            inputNormed = next != nil
        }
    }

    /// The same with nothing between layers (training and validation).
    public func layers(_ w: DecoderWeights, rows n: Int, activations: (Int) -> LayerActivations, attention: (Int) -> AttentionCore) {
        layers(w, rows: n, activations: activations, attention: attention, beforeLayer: {})
    }

    /// A norm to apply to a residual sum as it is written: into (n, hidden), with or without statistics.
    public struct NormTarget {
        public let norm: Norm
        public let into: UnsafeMutablePointer<Float>
        public let stats: NormStats?
    }

    /// One decoder layer over n rows. `inputNormed`: a.ln1 already holds the attention norm of a.input (the
    /// previous layer wrote it); `normNext`: also apply the next layer's attention norm to a.output.
    public func layer(_ lw: LayerWeights, _ a: LayerActivations, rows n: Int, attention core: AttentionCore,
                      inputNormed: Bool = false, normNext: NormTarget? = nil) {
        if !inputNormed { norm(lw.attnNorm, a.input, rows: n, into: a.ln1, stats: a.ln1Stats) }
        attention(lw, a, input: a.ln1, rows: n, core: core)
        switch lw.wiring {
        case .sequential(let mlpNorm):
            sum(a.input, a.attnOut, nil, into: a.mid, rows: n, then: NormTarget(norm: mlpNorm, into: a.ln2, stats: a.ln2Stats))
            mlp(lw, a, input: a.ln2, rows: n)
            sum(a.mid, a.mlpOut, nil, into: a.output, rows: n, then: normNext)
        case .parallel(let mlpNorm):
            norm(mlpNorm, a.input, rows: n, into: a.ln2, stats: a.ln2Stats)
            mlp(lw, a, input: a.ln2, rows: n)
            sum(a.input, a.attnOut, a.mlpOut, into: a.output, rows: n, then: normNext)
        case .parallelSharedNorm:
            mlp(lw, a, input: a.ln1, rows: n)
            sum(a.input, a.attnOut, a.mlpOut, into: a.output, rows: n, then: normNext)
        }
    }

    /// x: (n, hidden) -> out: (n, hidden). With `stats` the row statistics are kept (LayerNorm/RMSNorm
    /// in Layers/Norms.swift); without, the SIMD kernels of the same formula run (FastOps).
    public func norm(_ w: Norm, _ x: UnsafePointer<Float>, rows n: Int, into out: UnsafeMutablePointer<Float>, stats: NormStats?) {
        profile.measure(.norms) { normUntimed(w, x, rows: n, into: out, stats: stats) }
    }

    /// Rows `rows` of x through the norm without statistics (FastOps's kernels, which give a row the same bits
    /// whether it runs alone or with others).
    private func normRows(_ w: Norm, _ x: UnsafePointer<Float>, _ rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let hidden = config.hiddenSize, eps = config.normEps, at = rows.lowerBound * hidden
        switch plan.norm {
        case .layerNorm:
            FastOps.layerNorm(x + at, t: rows.count, c: hidden, weight: w.weight.pointer, bias: w.bias?.pointer, eps: eps, into: out + at)
        case .rmsNorm: FastOps.rmsNorm(x + at, t: rows.count, c: hidden, weight: w.weight.pointer, eps: eps, into: out + at)
        }
    }

    private func normUntimed(_ w: Norm, _ x: UnsafePointer<Float>, rows n: Int, into out: UnsafeMutablePointer<Float>, stats: NormStats?) {
        let c = config
        switch (plan.norm, stats) {
        case (.layerNorm, let s?):
            LayerNorm.forward(x, t: n, c: c.hiddenSize, weight: w.weight.pointer, bias: w.bias?.pointer, eps: c.normEps, into: out,
                              mean: s.mean, rstd: s.rstd)
        case (.rmsNorm, let s?):
            RMSNorm.forward(x, t: n, c: c.hiddenSize, weight: w.weight.pointer, eps: c.normEps, into: out, rstd: s.rstd)
        case (_, nil):
            split(n, rowsPerPiece: 32) { r in normRows(w, x, r, into: out) }
        }
    }

    /// The final norm and the LM head. x: (n, hidden) -> normed: (n, hidden), logits: (n, vocab)
    public func logits(_ w: DecoderWeights, _ x: UnsafePointer<Float>, rows n: Int, normed: UnsafeMutablePointer<Float>,
                       stats: NormStats? = nil, into logits: UnsafeMutablePointer<Float>) {
        norm(w.finalNorm, x, rows: n, into: normed, stats: stats)
        profile.measure(.lmHeadForward, flops: Self.flops(n, w.output.rows, w.output.cols)) {
            w.output.multiply(normed, t: n, into: logits, pool: pool, batchInvariant: batchInvariant)
        }
    }

    /// input: (n, hidden) -> a.attnOut: (n, hidden), through q/k/v, per-head norms, RoPE, the core and o.
    func attention(_ lw: LayerWeights, _ a: LayerActivations, input: UnsafePointer<Float>, rows n: Int, core: AttentionCore) {
        let c = config, d = c.headDim, heads = c.numHeads, kvHeads = c.numKVHeads
        let qDim = heads * d, kvDim = kvHeads * d
        switch lw.qkv {
        case .fused(let qkv, let layout):
            profile.measure(.qkvForward, flops: Self.flops(n, qkv)) {
                qkv(input, t: n, into: a.qkv, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
            }
            profile.measure(.residual) {
                FusedQKV.split(a.qkv, rows: n, layout: layout, heads: heads, kvHeads: kvHeads, headDim: d, q: a.qProj, k: a.kProj, v: a.v)
            }
        case .separate(let q, let k, let v):
            profile.measure(.qkvForward, flops: Self.flops(n, q) + Self.flops(n, k) + Self.flops(n, v)) {
                together(q, a.qProj, k, a.kProj, v, a.v, input: input, rows: n)
            }
        }
        if let qk = lw.qkNorm {
            profile.measure(.norms) {
                headNorm(a.qProj, rows: n, heads: heads, weight: qk.q.pointer, into: a.q, stats: a.qNormStats)
                headNorm(a.kProj, rows: n, heads: kvHeads, weight: qk.k.pointer, into: a.k, stats: a.kNormStats)
            }
        } else {
            profile.measure(.residual) {
                if a.q != a.qProj { a.q.update(from: a.qProj, count: n * qDim) }
                if a.k != a.kProj { a.k.update(from: a.kProj, count: n * kvDim) }
            }
        }
        let positions = core.positions
        profile.measure(.rope) {
            // Row by row, so any split over the pool gives the same bits.
            let q = a.q, k = a.k, rotaryDim = c.rotaryDim, pairing = plan.rope, cos = ropeCos, sin = ropeSin
            let rowsPerPiece = positions.offset(by: 32) == nil ? n : 32
            split(n, rowsPerPiece: rowsPerPiece) { rows in
                let shifted = positions.offset(by: rows.lowerBound)!
                Rotary.forward(q + rows.lowerBound * qDim, rows: rows.count, heads: heads, headDim: d, rotaryDim: rotaryDim, pairing: pairing,
                               cos: cos, sin: sin, positions: shifted)
                Rotary.forward(k + rows.lowerBound * kvDim, rows: rows.count, heads: kvHeads, headDim: d, rotaryDim: rotaryDim,
                               pairing: pairing, cos: cos, sin: sin, positions: shifted)
            }
        }
        profile.measure(.attentionForward) {
            switch core {
            case .cached(let cache, let layer, let start):
                cache.attend(q: a.q, k: a.k, v: a.v, rows: n, layer: layer, start: start, into: a.heads)
            case .causal(let batch, let seqLen, let packed, let saved, let scratch, let attentionPool):
                CausalAttention.forward(q: a.q, k: a.k, v: a.v, batch: batch, seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: d,
                                        saved: saved, out: a.heads, scratch: scratch, positions: packed, window: c.slidingWindow,
                                        pool: attentionPool)
            case .packed(let packed, let layer, let start, let segments, _):
                packed.attend(q: a.q, k: a.k, v: a.v, rows: n, layer: layer, start: start, segments: segments, into: a.heads)
            }
        }
        profile.measure(.oForward, flops: Self.flops(n, lw.o)) {
            lw.o(a.heads, t: n, into: a.attnOut, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
        }
    }

    /// Per-head LayerNorm (weight per head, no bias) of x: (n, heads·d) -> out (may be x).
    private func headNorm(_ x: UnsafePointer<Float>, rows n: Int, heads: Int, weight: UnsafePointer<Float>,
                          into out: UnsafeMutablePointer<Float>, stats: NormStats?) {
        let d = config.headDim, eps = config.normEps
        for r in 0..<n {
            for h in 0..<heads {
                let i = r * heads + h
                if let stats {
                    let s = LayerNorm.forwardRow(x + i * d, c: d, weight: weight + h * d, bias: nil, eps: eps, into: out + i * d)
                    stats.mean[i] = s.mean; stats.rstd[i] = s.rstd
                } else {
                    FastOps.layerNorm(x + i * d, t: 1, c: d, weight: weight + h * d, bias: nil, eps: eps, into: out + i * d)
                }
            }
        }
    }

    /// input: (n, hidden) -> a.mlpOut: (n, hidden)
    func mlp(_ lw: LayerWeights, _ a: LayerActivations, input: UnsafePointer<Float>, rows n: Int) {
        let count = n * config.intermediateSize
        switch (lw.mlp, plan.mlp) {
        case (.gated(let gate, let up), _):
            profile.measure(.upGateForward, flops: Self.flops(n, up) + Self.flops(n, gate)) {
                together(up, a.up, gate, a.gate, nil, nil, input: input, rows: n)
            }
            profile.measure(.activation) {
                // In pieces of a multiple of 8 elements: the kernel's 8-wide vectors then fall on the same
                // elements as in one call, so the bits do not depend on the split.
                let gate = a.gate, up = a.up, act = a.act
                split((count + 7) / 8, rowsPerPiece: 2048) { r in
                    let lo = 8 * r.lowerBound, hi = min(count, 8 * r.upperBound)
                    GatedSiLU.forward(gate: gate + lo, up: up + lo, n: hi - lo, into: act + lo)
                }
            }
        case (.plain(let up), .plain(let tanh)):
            profile.measure(.upGateForward, flops: Self.flops(n, up)) {
                up(input, t: n, into: a.up, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
            }
            profile.measure(.activation) {
                let up = a.up, act = a.act
                split(count, rowsPerPiece: 16384) { r in GELU.forward(up + r.lowerBound, n: r.count, tanh: tanh, into: act + r.lowerBound) }
            }
        case (.plain, .gated):
            fatalError("a plain MLP's weights under a gated plan")
        }
        profile.measure(.downForward, flops: Self.flops(n, lw.down)) {
            lw.down(a.act, t: n, into: a.mlpOut, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
        }
    }

    /// Runs `body` over 0..<count on the pool's threads in pieces that start at multiples of `rowsPerPiece`
    /// (at most 4 a thread: each piece is a turn at the pool's counter; one call on this thread without a pool
    /// or with a single piece): for the element-wise and per-row ops between the products (RoPE, the MLP's
    /// activation, norms, residual adds), which otherwise leave the second core idle in a prompt.
    private func split(_ count: Int, rowsPerPiece: Int, _ body: (Range<Int>) -> Void) {
        guard let pool, pool.threads > 1, count > rowsPerPiece else { return body(0..<count) }
        let wanted = min((count + rowsPerPiece - 1) / rowsPerPiece, 4 * pool.threads)
        let per = ((count + wanted - 1) / wanted + rowsPerPiece - 1) / rowsPerPiece * rowsPerPiece
        let pieces = (count + per - 1) / per
        pool.parallelFor(count: pieces) { p in body(p * per..<min(count, (p + 1) * per)) }
    }

    /// Two or three linear layers of the same input: with quantized weights, the input is quantized
    /// once and the products are one pass over the pool (QuantizedMatrix.matVec(_:into:_:into:_:into:x:pool:)
    /// for one token, QuantizedMatrix.matMul(_:x:t:pool:) for several), then each one's LoRA update and bias as
    /// Linear adds them; otherwise one by one.
    func together(_ l1: Linear, _ y1: UnsafeMutablePointer<Float>, _ l2: Linear, _ y2: UnsafeMutablePointer<Float>,
                  _ l3: Linear?, _ y3: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>, rows n: Int) {
        if let pool, case .quantized(let a, _) = l1.weight, case .quantized(let b, _) = l2.weight {
            var c: QuantizedMatrix?
            if let l3, case .quantized(let m, _) = l3.weight { c = m }
            if l3 == nil || c != nil {
                if n == 1 {
                    QuantizedMatrix.matVec(a, into: y1, b, into: y2, c, into: y3, x: input, pool: pool)
                } else {
                    var products = [(matrix: a, y: y1), (matrix: b, y: y2)]
                    if let c, let y3 { products.append((c, y3)) }
                    QuantizedMatrix.matMul(products, x: input, t: n, pool: pool, strategy: batchInvariant ? .quantizedDots : nil)
                }
                for (l, y) in [(l1, y1), (l2, y2)] + (l3.map { [($0, y3!)] } ?? []) {
                    l.lora?.add(input, t: n, inFeatures: l.inFeatures, outFeatures: l.outFeatures, into: y, batchInvariant: batchInvariant,
                                pool: adapterPool ?? pool)
                    l.addBias(y, rows: n)
                }
                return
            }
        }
        l1(input, t: n, into: y1, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
        l2(input, t: n, into: y2, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool)
        if let l3, let y3 { l3(input, t: n, into: y3, pool: pool, batchInvariant: batchInvariant, adapterPool: adapterPool) }
    }

    /// out = a + b (+ c) over n rows of hidden (out may be a), then, when `then` is given, its norm of out.
    /// Without statistics the two are one pass over the pool, row by row (each row is normalised while the
    /// add has it in cache); the kernels are the same as apart (FastOps.add, then normRows on the row), so
    /// the bits are too. With statistics (training) the norm keeps them and runs on its own.
    private func sum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>?,
                     into out: UnsafeMutablePointer<Float>, rows n: Int, then target: NormTarget?) {
        let hidden = config.hiddenSize
        guard let target, target.stats == nil else {
            sum(a, b, into: out, count: n * hidden)
            if let c { sum(out, c, into: out, count: n * hidden) }
            if let target { norm(target.norm, out, rows: n, into: target.into, stats: target.stats) }
            return
        }
        profile.measure(.norms) {
            split(n, rowsPerPiece: 32) { rows in
                for r in rows {
                    let o = out + r * hidden
                    if UnsafePointer(o) != a + r * hidden { o.update(from: a + r * hidden, count: hidden) }
                    FastOps.add(o, b + r * hidden, count: hidden)
                    if let c { FastOps.add(o, c + r * hidden, count: hidden) }
                    normRows(target.norm, out, r..<(r + 1), into: target.into)
                }
            }
        }
    }

    /// out = a + b (out may be a).
    private func sum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        profile.measure(.residual) {
            // In pieces of a multiple of 8 elements, as the activation (the kernel's vectors on the same elements).
            split((count + 7) / 8, rowsPerPiece: 2048) { r in
                let lo = 8 * r.lowerBound, n = min(count, 8 * r.upperBound) - lo
                if UnsafePointer(out) != a { (out + lo).update(from: a + lo, count: n) }
                FastOps.add(out + lo, b + lo, count: n)
            }
        }
    }

    /// FLOPs of n rows through a linear layer: 2·n·in·out (a LoRA adapter's few are left out).
    @inline(__always) public static func flops(_ n: Int, _ l: Linear) -> Double { flops(n, l.outFeatures, l.inFeatures) }
    @inline(__always) public static func flops(_ n: Int, _ rows: Int, _ cols: Int) -> Double { 2 * Double(n) * Double(rows) * Double(cols) }
}

/// Splitting a fused q/k/v projection's rows and merging their gradients back, in either layout.
public enum FusedQKV {
    /// qkv: (n, qDim + 2·kvDim) -> q: (n, qDim), k, v: (n, kvDim)
    public static func split(_ qkv: UnsafePointer<Float>, rows n: Int, layout: FusedQKVLayout, heads: Int, kvHeads: Int, headDim d: Int,
                             q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        let qDim = heads * d, kvDim = kvHeads * d, width = qDim + 2 * kvDim
        for r in 0..<n {
            let row = qkv + r * width
            switch layout {
            case .perHead:   // per head: [q, k, v] of d each (GPT-NeoX in HF layout; heads == kvHeads)
                for h in 0..<heads {
                    (q + r * qDim + h * d).update(from: row + h * 3 * d, count: d)
                    (k + r * kvDim + h * d).update(from: row + h * 3 * d + d, count: d)
                    (v + r * kvDim + h * d).update(from: row + h * 3 * d + 2 * d, count: d)
                }
            case .blocked:   // all q, then all k, then all v (llama.cpp's fused layout)
                (q + r * qDim).update(from: row, count: qDim)
                (k + r * kvDim).update(from: row + qDim, count: kvDim)
                (v + r * kvDim).update(from: row + qDim + kvDim, count: kvDim)
            }
        }
    }

    /// The inverse of split: q, k, v rows -> qkv: (n, qDim + 2·kvDim) (overwritten).
    public static func merge(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, rows n: Int,
                             layout: FusedQKVLayout, heads: Int, kvHeads: Int, headDim d: Int, into qkv: UnsafeMutablePointer<Float>) {
        let qDim = heads * d, kvDim = kvHeads * d, width = qDim + 2 * kvDim
        for r in 0..<n {
            let row = qkv + r * width
            switch layout {
            case .perHead:
                for h in 0..<heads {
                    (row + h * 3 * d).update(from: q + r * qDim + h * d, count: d)
                    (row + h * 3 * d + d).update(from: k + r * kvDim + h * d, count: d)
                    (row + h * 3 * d + 2 * d).update(from: v + r * kvDim + h * d, count: d)
                }
            case .blocked:
                row.update(from: q + r * qDim, count: qDim)
                (row + qDim).update(from: k + r * kvDim, count: kvDim)
                (row + qDim + kvDim).update(from: v + r * kvDim, count: kvDim)
            }
        }
    }
}

extension Linear {
    /// y: (rows, out) += bias
    @inline(__always) func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int) {
        guard let bias else { return }
        for r in 0..<rows { FastOps.add(y + r * outFeatures, bias.pointer, count: outFeatures) }
    }
}
