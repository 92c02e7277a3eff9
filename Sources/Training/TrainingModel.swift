// The decoder for training: the one forward (Inference/Forward.swift) over a batch of B sequences of
// T tokens, with per-layer buffers so every activation the backward needs is kept, and the backward
// pass that turns the loss into gradients in the ParameterStore. The backward reads the parameters
// through the same DecoderWeights the forward used (Float32 views into the store) and finds each
// one's gradient at the same offset. All buffers are allocated once in init.
import Foundation
import Checkpoints
import Inference
import Kernels

public final class TrainingModel {
    public let config: ModelConfig
    public let parameters: ParameterStore
    public let batchSize: Int
    public let seqLen: Int
    /// Targets of the last forward: (B·T), labels shifted left by one, -1 where ignored.
    public var targets: UnsafePointer<Int32> { UnsafePointer(acts.targets) }
    /// Logits of the last forward: (B·T, vocab), when they are held whole (no logitChunkRows). The backward
    /// overwrites them with their gradient.
    public var logits: UnsafeBufferPointer<Float> {
        precondition(logitRows == batchSize * seqLen, "the logits are computed in chunks of \(logitRows) rows and not kept")
        return UnsafeBufferPointer(start: acts.logits, count: batchSize * seqLen * config.vocabSize)
    }
    /// Rows of logits held at once: the loss and its gradient go through (rows, vocab) chunks, the
    /// backward recomputing each chunk's logits from the kept final-norm output (all but the last).
    public let logitRows: Int
    /// Σ of the last forward's per-target losses and the number of targets.
    public private(set) var lossSum: Double = 0
    public private(set) var targetCount = 0
    /// Mean loss of the last forward over its non-ignored targets (0 when there are none).
    public var loss: Float { targetCount > 0 ? Float(lossSum / Double(targetCount)) : 0 }

    private let acts: Activations
    private let ropeCos: FloatTensor, ropeSin: FloatTensor
    private var decoder: DecoderForward
    /// Attention's per-head work split over the cores (BLAS on one thread meanwhile); nil with one thread.
    private let attentionPool: ThreadPool?
    /// Threads attention is split over: BLAS's (`-t`), as set when the model is made.
    static var attentionThreads: Int { max(1, BLAS.threads) }
    /// Per-op timing of the steps the profile records (`Trainer.step` begins and ends them); nil: no clock is read.
    public var profile: StepProfile? {
        didSet { decoder.profile = profile }
    }
    /// x·Aᵀ and dy·B of one adapted layer in the backward: 2 × (B·T, rank).
    private let loraScratch: UnsafeMutablePointer<Float>
    /// Per row block of the LoRA backward (LoRAAdapter.rowsPerBlock) its share of dA and dB, summed in block order.
    private let loraPartials: UnsafeMutablePointer<Float>
    private let loraPartialFloats: Int
    /// LoRA dropout only: dropout(x) and the masked input gradient of one adapted layer, 2 × (B·T, widest input).
    private let dropoutScratch: UnsafeMutablePointer<Float>
    /// The adapters' dropout (LoRA with --lora-dropout), advanced to a new mask on every training forward.
    public let dropout: LoRADropout?
    private var logitsAreGradients = false
    /// Whether the last forward packed documents (acts.positions holds their positions).
    private var usesPositions = false
    private var packedPositions: UnsafePointer<Int32>? { usesPositions ? UnsafePointer(acts.positions) : nil }

    /// The label value that marks a position as not scored (as in Hugging Face).
    public static let ignoreIndex = -100

    /// The weights the forward runs: the store's own (full training), or a frozen base with the store's
    /// LoRA adapters attached (only pointers into the store get gradients).
    public let weights: DecoderWeights

    /// - weights: a frozen base (any storage: F32, F16/BF16, quantized) with LoRA adapters from
    ///   `parameters` attached; nil trains `parameters.weights` themselves.
    /// - logitChunkRows: hold logits for this many rows at a time instead of all B·T (the vocabulary-wide
    ///   logits and their gradient are the biggest activation of a small model); nil holds them all.
    public init(parameters: ParameterStore, weights: DecoderWeights? = nil, batchSize: Int, seqLen: Int, logitChunkRows: Int? = nil) throws {
        let c = parameters.config
        guard let w = weights ?? parameters.weights else { throw TrainingError.unsupported("a LoRA store needs the base's weights") }
        self.weights = w
        guard batchSize > 0, seqLen > 0 else { throw TrainingError.badBatch("batch size and sequence length must be positive") }
        guard seqLen <= c.maxPositions else {
            throw TrainingError.badBatch("sequence length \(seqLen) is longer than max_position_embeddings \(c.maxPositions)")
        }
        config = c
        self.parameters = parameters
        self.batchSize = batchSize
        self.seqLen = seqLen
        logitRows = Self.logitRows(batchSize * seqLen, chunk: logitChunkRows)
        let threads = Self.attentionThreads
        attentionPool = threads > 1 ? ThreadPool(threads: threads) : nil
        acts = Activations(config: c, batch: batchSize, seqLen: seqLen, logitRows: logitRows, attentionThreads: attentionPool?.threads ?? 1)
        let (cos, sin) = Ops.ropeTables(positions: seqLen, inverseFrequencies: c.ropeInverseFrequencies)
        ropeCos = FloatTensor(values: cos, shape: [seqLen, c.rotaryDim / 2])
        ropeSin = FloatTensor(values: sin, shape: [seqLen, c.rotaryDim / 2])
        // Packed or half-precision base matrices multiply on the pool; Float32 ones through BLAS's threads.
        let allDense = w.layers.allSatisfy { $0.linears.allSatisfy { if case .dense = $1.weight { return true } else { return false } } }
        decoder = DecoderForward(plan: parameters.plan, ropeCos: ropeCos.pointer, ropeSin: ropeSin.pointer,
                                 pool: allDense ? nil : ThreadPool(threads: ThreadPool.availableCores))
        loraScratch = acts.arena.floats(2 * batchSize * seqLen * (parameters.loraSettings?.rank ?? 0))
        // The adapters' thin products split by rows over the attention pool's threads, single-threaded each.
        decoder.adapterPool = attentionPool
        loraPartialFloats = (parameters.loraSettings?.rank ?? 0) * Self.widestLinear(c)
        loraPartials = acts.arena.floats(Self.loraPartialsFloats(config: c, rows: batchSize * seqLen, rank: parameters.loraSettings?.rank ?? 0))
        dropout = w.layers.lazy.flatMap { $0.linears.compactMap { $0.1.lora?.dropout } }.first
        dropoutScratch = acts.arena.floats(dropout == nil ? 0 : Self.dropoutScratchFloats(config: c, rows: batchSize * seqLen))
    }

    private static func logitRows(_ n: Int, chunk: Int?) -> Int { min(n, max(1, chunk ?? n)) }

    /// The most inputs plus outputs of any linear layer (a LoRA target's dA and dB hold rank × that).
    private static func widestLinear(_ c: ModelConfig) -> Int {
        c.hiddenSize + max(c.intermediateSize, (c.numHeads + 2 * c.numKVHeads) * c.headDim)
    }

    private static func loraPartialsFloats(config c: ModelConfig, rows: Int, rank: Int) -> Int {
        LoRAAdapter.rowBlocks(rows).count * rank * widestLinear(c)
    }

    private static func dropoutScratchFloats(config c: ModelConfig, rows: Int) -> Int {
        2 * rows * max(c.hiddenSize, c.intermediateSize, c.numHeads * c.headDim)
    }

    /// Floats held for activations and gradient scratch.
    public var activationFloats: Int { acts.arena.floatCount }

    /// The bytes a model of `config` would hold for activations and scratch at this batch shape
    /// (counted by laying the buffers out without allocating them).
    public static func activationBytes(config: ModelConfig, batchSize: Int, seqLen: Int, loraRank: Int = 0, loraDropout: Bool = false,
                                       logitChunkRows: Int? = nil) -> Int {
        let rows = logitRows(batchSize * seqLen, chunk: logitChunkRows)
        let counted = Activations(config: config, batch: batchSize, seqLen: seqLen, logitRows: rows, attentionThreads: attentionThreads,
                                  countOnly: true).arena.floatCount
        let dropout = loraDropout ? dropoutScratchFloats(config: config, rows: batchSize * seqLen) : 0
        let partials = loraPartialsFloats(config: config, rows: batchSize * seqLen, rank: loraRank)
        // LoRA, its partial sums and dropout scratch (one float each when unused)
        return 4 * (counted + max(1, 2 * batchSize * seqLen * loraRank) + max(1, partials) + max(1, dropout))
    }

    // MARK: - Forward

    /// Runs B×T `tokens` (row-major, sequence after sequence). With `labels` (same shape, -100 =
    /// ignored) it scores logits[b, t] against labels[b, t+1], as HF's causal-LM loss does, and returns
    /// the mean loss; without labels it only computes logits and returns 0.
    /// `positions` (same shape) packs several documents into one row: each token's position within its
    /// document (0 at a document's first token). RoPE uses it and attention stays inside the document.
    @discardableResult
    public func forward(tokens: [Int], labels: [Int]? = nil, positions: [Int]? = nil) throws -> Float {
        try profile.measure(.data) { try loadBatch(tokens: tokens, labels: labels, positions: positions) }
        if let dropout, dropout.isActive { dropout.pass &+= 1 }
        runForward()
        return loss
    }

    /// The batch into the model's buffers, checked: token ids, shifted targets, packed positions.
    private func loadBatch(tokens: [Int], labels: [Int]?, positions: [Int]?) throws {
        let n = batchSize * seqLen, vocab = config.vocabSize
        guard tokens.count == n else { throw TrainingError.badBatch("expected \(batchSize)×\(seqLen) = \(n) tokens, got \(tokens.count)") }
        if let labels, labels.count != n { throw TrainingError.badBatch("expected \(n) labels, got \(labels.count)") }
        usesPositions = positions != nil
        if let positions {
            guard positions.count == n else { throw TrainingError.badBatch("expected \(n) positions, got \(positions.count)") }
            for (r, pos) in positions.enumerated() {
                let t = r % seqLen
                // A document's positions count up from 0 by one; anything else is a malformed packing.
                guard pos >= 0, pos <= t, t == 0 ? pos == 0 : (pos == 0 || pos == positions[r - 1] + 1) else {
                    throw TrainingError.badBatch("position \(pos) at \(r) does not continue a document (positions restart at 0 and count up)")
                }
                acts.positions[r] = Int32(pos)
            }
        }
        for (i, id) in tokens.enumerated() {
            guard id >= 0 && id < vocab else { throw TrainingError.badBatch("token \(id) at \(i) is outside the vocabulary (\(vocab))") }
            acts.tokens[i] = Int32(id)
        }
        for b in 0..<batchSize {
            for t in 0..<seqLen {
                let r = b * seqLen + t
                guard let labels, t + 1 < seqLen else { acts.targets[r] = -1; continue }
                let label = labels[r + 1]
                guard label != Self.ignoreIndex else { acts.targets[r] = -1; continue }
                guard label >= 0 && label < vocab else { throw TrainingError.badBatch("label \(label) at \(r + 1) is outside the vocabulary (\(vocab))") }
                acts.targets[r] = Int32(label)
            }
        }
    }

    private func runForward() {
        let c = config, w = weights, a = acts
        let n = batchSize * seqLen
        decoder.embed(UnsafeBufferPointer(start: a.tokens, count: n).lazy.map { Int($0) }, w, into: a.residual[0])
        decoder.layers(w, rows: n, activations: { a.layerActivations[$0] }, attention: { l in
            .causal(batch: self.batchSize, seqLen: self.seqLen, positions: self.packedPositions, saved: a.layers[l].attentionSaved,
                    scratch: a.attentionScratch, pool: self.attentionPool)
        })
        lossSum = 0; targetCount = 0
        for r0 in stride(from: 0, to: n, by: logitRows) {
            let m = min(logitRows, n - r0), h = c.hiddenSize
            decoder.logits(w, a.residual[c.numLayers] + r0 * h, rows: m, normed: a.lnf + r0 * h,
                           stats: NormStats(mean: a.lnfMean + r0, rstd: a.lnfRstd + r0), into: a.logits)
            let (sum, count) = profile.measure(.crossEntropy) {
                CrossEntropy.forward(logits: a.logits, targets: a.targets + r0, n: m, vocab: c.vocabSize, lse: a.lse + r0)
            }
            lossSum += sum; targetCount += count
        }
        logitsAreGradients = false
    }

    // MARK: - Backward

    /// Adds ∂(lossScale · Σ target losses)/∂θ of the last forward to the gradient buffer. With the
    /// default scale, 1/targetCount, that is the gradient of the mean loss; gradient accumulation
    /// passes 1/(targets of all micro-batches). Gradients accumulate: zero them between steps.
    public func backward(lossScale: Float? = nil) {
        precondition(!logitsAreGradients, "backward needs a fresh forward")
        let c = config, w = weights, a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize
        let scale = lossScale ?? (targetCount > 0 ? 1 / Float(targetCount) : 0)

        let dres = a.dResidual, dln = a.dLn1
        profile.measure(.residual) { dln.update(repeating: 0, count: n * hidden) }
        // Last chunk first: its logits are still in the buffer from the forward; the others are recomputed.
        let output = Linear(weight: w.output, bias: nil)
        let last = (n - 1) / logitRows * logitRows
        for r0 in stride(from: last, through: 0, by: -logitRows) {
            let m = min(logitRows, n - r0)
            if r0 != last {
                profile.measure(.lmHeadForward, flops: DecoderForward.flops(m, output)) {
                    output(a.lnf + r0 * hidden, t: m, into: a.logits, pool: decoder.pool)
                }
            }
            profile.measure(.crossEntropy) {
                CrossEntropy.backward(logits: a.logits, targets: a.targets + r0, lse: a.lse + r0, n: m, vocab: c.vocabSize, scale: scale)
            }
            linearBackward(output, .lmHead, dy: a.logits, x: a.lnf + r0 * hidden, dx: dln + r0 * hidden, rows: m)
        }
        logitsAreGradients = true
        profile.measure(.residual) { dres.update(repeating: 0, count: n * hidden) }
        normBackward(w.finalNorm, dout: dln, x: a.residual[c.numLayers], mean: a.lnfMean, rstd: a.lnfRstd, dx: dres)

        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let lw = w.layers[l], la = a.layers[l], x = a.residual[l]
            profile.measure(.residual) {
                a.dLn1.update(repeating: 0, count: n * hidden)
                a.dLn2.update(repeating: 0, count: n * hidden)
            }
            profile.measure(.norms) { rebuildNorms(layer: l) }
            // The MLP's output adds to the residual, so its upstream gradient is dres.
            switch lw.wiring {
            case .sequential(let mlpNorm):
                mlpBackward(layer: l, dout: dres, input: la.ln2, dinput: a.dLn2)
                // mid = x + attn; ln2 = norm(mid): dres becomes ∂/∂mid.
                normBackward(mlpNorm, dout: a.dLn2, x: la.mid, mean: la.ln2Mean, rstd: la.ln2Rstd, dx: dres)
                attentionBackward(layer: l, dout: dres, dinput: a.dLn1)
            case .parallel(let mlpNorm):
                mlpBackward(layer: l, dout: dres, input: la.ln2, dinput: a.dLn2)
                attentionBackward(layer: l, dout: dres, dinput: a.dLn1)
                normBackward(mlpNorm, dout: a.dLn2, x: x, mean: la.ln2Mean, rstd: la.ln2Rstd, dx: dres)
            case .parallelSharedNorm:
                mlpBackward(layer: l, dout: dres, input: la.ln1, dinput: a.dLn1)
                attentionBackward(layer: l, dout: dres, dinput: a.dLn1)
            }
            normBackward(lw.attnNorm, dout: a.dLn1, x: x, mean: la.ln1Mean, rstd: la.ln1Rstd, dx: dres)
        }
        if let dtable = g(w.embedding) { profile.measure(.embedding) { Embedding.backward(ids: a.tokens, n: n, dout: dres, c: hidden, dtable: dtable) } }
    }

    // MARK: - Parameters and their gradients

    /// The gradient of a tensor in the store; nil for a frozen one (the base under LoRA).
    private func g(_ t: FloatTensor) -> UnsafeMutablePointer<Float>? { parameters.gradient(of: t.pointer) }
    private func g(_ m: WeightMatrix) -> UnsafeMutablePointer<Float>? {
        guard case .dense(let t) = m else { return nil }
        return g(t)
    }

    /// dy: (N, out), x: (N, in) -> dx: (N, in) +=, and += to whichever of the layer's weight, bias and
    /// LoRA matrices are trained. A frozen weight passes the gradient through in any storage.
    /// The profile charges the input gradient to `group`'s dX and the weight, bias and LoRA gradients to its dW.
    private func linearBackward(_ l: Linear, _ group: ProductGroup, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>?, rows: Int? = nil) {
        let n = rows ?? batchSize * seqLen
        let flops = DecoderForward.flops(n, l)
        if case .dense(let w) = l.weight, let dw = g(w) {
            if let dx {
                profile.measure(group.inputGradient, flops: flops) {
                    LinearLayer.backwardInput(dy: dy, t: n, weight: w.pointer, inFeatures: l.inFeatures, outFeatures: l.outFeatures, dx: dx)
                }
            }
            profile.measure(group.weightGradient, flops: flops) {
                LinearLayer.backwardWeight(dy: dy, x: x, t: n, inFeatures: l.inFeatures, outFeatures: l.outFeatures, dweight: dw,
                                           dbias: l.bias.flatMap { g($0) })
            }
        } else if let dx {
            profile.measure(group.inputGradient, flops: flops) { l.weight.addInputGradient(dy: dy, t: n, into: dx) }
        }
        if let lora = l.lora, let dA = g(lora.a), let dB = g(lora.b) {
            precondition(n == batchSize * seqLen, "LoRA layers run over the whole batch")
            profile.measure(group.weightGradient) {
                loraBackward(lora, dy: dy, x: x, inFeatures: l.inFeatures, outFeatures: l.outFeatures, dA: dA, dB: dB, dx: dx)
            }
        }
    }

    /// Which of the profile's product groups a linear layer belongs to.
    enum ProductGroup {
        case qkv, o, upGate, down, lmHead
        var inputGradient: StepProfile.Op {
            switch self {
            case .qkv: return .qkvInputGradient
            case .o: return .oInputGradient
            case .upGate: return .upGateInputGradient
            case .down: return .downInputGradient
            case .lmHead: return .lmHeadInputGradient
            }
        }
        var weightGradient: StepProfile.Op {
            switch self {
            case .qkv: return .qkvWeightGradient
            case .o: return .oWeightGradient
            case .upGate: return .upGateWeightGradient
            case .down: return .downWeightGradient
            case .lmHead: return .lmHeadWeightGradient
            }
        }
    }

    /// y = x·Wᵀ + s·(d(x)·Aᵀ)·Bᵀ with A: (r, in), B: (out, r) and d the dropout mask (identity without).
    /// With xa = d(x)·Aᵀ and u = dy·B (both (N, r)): dB += s·dyᵀ·xa, dA += s·uᵀ·d(x), dx += d(s·u·A).
    private func loraBackward(_ lora: LoRAAdapter, dy: UnsafePointer<Float>, x original: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
                              dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        let n = batchSize * seqLen, r = lora.rank, s = lora.scale
        let xa = loraScratch, u = loraScratch + n * r
        var x = original
        let drop = lora.activeDropout
        if let drop {
            drop.apply(original, count: n * inFeatures, salt: lora.dropoutSalt, into: dropoutScratch)
            x = UnsafePointer(dropoutScratch)
        }
        // Row blocks (LoRAAdapter.rowsPerBlock), one single-threaded sgemm per product each, on the pool's threads:
        // a block's rows of dx are its own, its shares of dA and dB go to partials summed in block order after,
        // so the sums are the same on any thread count.
        let blocks = LoRAAdapter.rowBlocks(n), partials = loraPartials, partialFloats = loraPartialFloats
        let g = drop == nil || dx == nil ? nil : dropoutScratch + n * inFeatures
        let block = { (i: Int) in
            let (r0, m) = blocks[i]
            let xb = x + r0 * inFeatures, dyb = dy + r0 * outFeatures, xab = xa + r0 * r, ub = u + r0 * r
            let dAb = partials + i * partialFloats, dBb = dAb + r * inFeatures
            BLAS.gemm(transA: false, transB: true, m: m, n: r, k: inFeatures, a: xb, lda: inFeatures, b: lora.a.pointer, ldb: inFeatures, c: xab, ldc: r)
            BLAS.gemm(transA: true, transB: false, m: outFeatures, n: r, k: m, alpha: s, a: dyb, lda: outFeatures, b: xab, ldb: r, c: dBb, ldc: r)
            BLAS.gemm(transA: false, transB: false, m: m, n: r, k: outFeatures, a: dyb, lda: outFeatures, b: lora.b.pointer, ldb: r, c: ub, ldc: r)
            BLAS.gemm(transA: true, transB: false, m: r, n: inFeatures, k: m, alpha: s, a: ub, lda: r, b: xb, ldb: inFeatures, c: dAb, ldc: inFeatures)
            if let g {
                BLAS.gemm(transA: false, transB: false, m: m, n: inFeatures, k: r, alpha: s, a: ub, lda: r, b: lora.a.pointer, ldb: inFeatures,
                          c: g + r0 * inFeatures, ldc: inFeatures)
            } else if let dx {
                BLAS.gemm(transA: false, transB: false, m: m, n: inFeatures, k: r, alpha: s, a: ub, lda: r, b: lora.a.pointer, ldb: inFeatures,
                          beta: 1, c: dx + r0 * inFeatures, ldc: inFeatures)
            }
        }
        if let pool = attentionPool, blocks.count > 1 {
            BLAS.withSingleThread { pool.parallelFor(count: blocks.count, body: block) }
        } else {
            for i in blocks.indices { block(i) }
        }
        for i in blocks.indices {
            let dAb = partials + i * partialFloats
            FastOps.add(dA, dAb, count: r * inFeatures)
            FastOps.add(dB, dAb + r * inFeatures, count: outFeatures * r)
        }
        if let dx, let drop, let g { drop.addGradient(g, count: n * inFeatures, salt: lora.dropoutSalt, into: dx) }
    }

    private func normBackward(_ norm: Norm, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                              rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        profile.measure(.norms) { normBackwardUntimed(norm, dout: dout, x: x, mean: mean, rstd: rstd, dx: dx) }
    }

    private func normBackwardUntimed(_ norm: Norm, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                     rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>) {
        let n = batchSize * seqLen, c = config
        switch c.norm {
        case .layerNorm:
            LayerNorm.backward(dout: dout, x: x, mean: mean, rstd: rstd, t: n, c: c.hiddenSize, weight: norm.weight.pointer, dx: dx,
                               dweight: g(norm.weight), dbias: norm.bias.flatMap { g($0) })
        case .rmsNorm:
            RMSNorm.backward(dout: dout, x: x, rstd: rstd, t: n, c: c.hiddenSize, weight: norm.weight.pointer, dx: dx, dweight: g(norm.weight))
        }
    }

    /// The layer's norm outputs as its forward computed them (the buffers are shared by all layers):
    /// the same function on the same input, so the same bits.
    private func rebuildNorms(layer l: Int) {
        let lw = weights.layers[l], la = acts.layers[l], x = acts.residual[l], n = batchSize * seqLen
        decoder.norm(lw.attnNorm, x, rows: n, into: la.ln1, stats: NormStats(mean: la.ln1Mean, rstd: la.ln1Rstd))
        switch lw.wiring {
        case .sequential(let mlpNorm): decoder.norm(mlpNorm, la.mid, rows: n, into: la.ln2, stats: NormStats(mean: la.ln2Mean, rstd: la.ln2Rstd))
        case .parallel(let mlpNorm): decoder.norm(mlpNorm, x, rows: n, into: la.ln2, stats: NormStats(mean: la.ln2Mean, rstd: la.ln2Rstd))
        case .parallelSharedNorm: break
        }
    }

    /// dout: (N, C) -> dinput: (N, C) +=, parameter gradients +=.
    private func mlpBackward(layer l: Int, dout: UnsafePointer<Float>, input: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>) {
        let c = config, lw = weights.layers[l], la = acts.layers[l], a = acts
        let n = batchSize * seqLen, inter = c.intermediateSize
        profile.measure(.residual) { a.dAct.update(repeating: 0, count: n * inter) }
        // The MLP's activation is one buffer for all layers (the forward's last layer wrote it): rebuilt
        // from this layer's kept gate and up, which costs one pass instead of (N, intermediate) per layer.
        profile.measure(.activation) {
            switch (lw.mlp, parameters.plan.mlp) {
            case (.gated, _): GatedSiLU.forward(gate: la.gate, up: la.up, n: n * inter, into: la.act)
            case (.plain, .plain(let tanh)): GELU.forward(la.up, n: n * inter, tanh: tanh, into: la.act)
            case (.plain, .gated): fatalError("a plain MLP's weights under a gated plan")
            }
        }
        linearBackward(lw.down, .down, dy: dout, x: la.act, dx: a.dAct)
        switch (lw.mlp, parameters.plan.mlp) {
        case (.gated(let gate, _), _):
            profile.measure(.activation) { GatedSiLU.backward(dout: a.dAct, gate: la.gate, up: la.up, n: n * inter, dgate: a.dGate, dup: a.dUp) }
            linearBackward(gate, .upGate, dy: a.dGate, x: input, dx: dinput)
        case (.plain, .plain(let tanh)):
            profile.measure(.activation) { GELU.backward(dout: a.dAct, x: la.up, n: n * inter, tanh: tanh, dx: a.dUp) }
        case (.plain, .gated):
            fatalError("a plain MLP's weights under a gated plan")
        }
        linearBackward(lw.mlp.up, .upGate, dy: a.dUp, x: input, dx: dinput)
    }

    /// dout: (N, C) (gradient of the attention block's output) -> dinput: (N, C) +=, parameter gradients +=.
    private func attentionBackward(layer l: Int, dout: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>) {
        let c = config, lw = weights.layers[l], la = acts.layers[l], a = acts
        let n = batchSize * seqLen, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d
        profile.measure(.residual) { a.dHeads.update(repeating: 0, count: n * qDim) }
        linearBackward(lw.o, .o, dy: dout, x: la.heads, dx: a.dHeads)
        profile.measure(.attentionBackward) {
            CausalAttention.backward(dout: a.dHeads, q: la.q, k: la.k, v: la.v, out: la.heads, saved: la.attentionSaved, batch: batchSize, seqLen: seqLen,
                                     heads: c.numHeads, kvHeads: c.numKVHeads, headDim: d, dq: a.dQ, dk: a.dK, dv: a.dV, scratch: a.attentionScratch,
                                     positions: packedPositions, window: c.slidingWindow, pool: attentionPool)
        }
        let positions = RowPositions.perSequence(seqLen: seqLen, packed: packedPositions), pairing = parameters.plan.rope
        profile.measure(.rope) {
            Rotary.backward(a.dQ, rows: n, heads: c.numHeads, headDim: d, rotaryDim: c.rotaryDim, pairing: pairing,
                            cos: ropeCos.pointer, sin: ropeSin.pointer, positions: positions)
            Rotary.backward(a.dK, rows: n, heads: c.numKVHeads, headDim: d, rotaryDim: c.rotaryDim, pairing: pairing,
                            cos: ropeCos.pointer, sin: ropeSin.pointer, positions: positions)
        }
        var dqProj = a.dQ, dkProj = a.dK
        if let qk = lw.qkNorm {
            profile.measure(.norms) {
                a.dQPre.update(repeating: 0, count: n * qDim)
                a.dKPre.update(repeating: 0, count: n * kvDim)
                let dqn = g(qk.q), dkn = g(qk.k)   // nil when frozen
                for r in 0..<n {
                    for h in 0..<c.numHeads {
                        let i = r * c.numHeads + h
                        LayerNorm.backwardRow(dout: a.dQ + i * d, x: la.qPre + i * d, mean: la.qMean[i], rstd: la.qRstd[i], c: d,
                                              weight: qk.q.pointer + h * d, dx: a.dQPre + i * d, dweight: dqn.map { $0 + h * d }, dbias: nil)
                    }
                    for h in 0..<c.numKVHeads {
                        let i = r * c.numKVHeads + h
                        LayerNorm.backwardRow(dout: a.dK + i * d, x: la.kPre + i * d, mean: la.kMean[i], rstd: la.kRstd[i], c: d,
                                              weight: qk.k.pointer + h * d, dx: a.dKPre + i * d, dweight: dkn.map { $0 + h * d }, dbias: nil)
                    }
                }
            }
            dqProj = a.dQPre; dkProj = a.dKPre
        }
        switch lw.qkv {
        case .fused(let qkv, let layout):
            profile.measure(.residual) {
                FusedQKV.merge(q: dqProj, k: dkProj, v: a.dV, rows: n, layout: layout, heads: c.numHeads, kvHeads: c.numKVHeads, headDim: d,
                               into: a.dQKV)
            }
            linearBackward(qkv, .qkv, dy: a.dQKV, x: la.ln1, dx: dinput)
        case .separate(let q, let k, let v):
            linearBackward(q, .qkv, dy: dqProj, x: la.ln1, dx: dinput)
            linearBackward(k, .qkv, dy: dkProj, x: la.ln1, dx: dinput)
            linearBackward(v, .qkv, dy: a.dV, x: la.ln1, dx: dinput)
        }
    }
}

/// Everything the forward keeps for the backward, and the backward's scratch, for B·T = N rows.
final class Activations {
    let arena: BufferArena
    let tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>
    /// Each token's position within its document, for packed batches.
    let positions: UnsafeMutablePointer<Int32>
    /// The residual stream entering each layer, and after the last: L + 1 buffers of (N, C).
    var residual: [UnsafeMutablePointer<Float>] = []
    var layers: [Layer] = []
    /// Each layer's buffers as the forward writes them.
    var layerActivations: [LayerActivations] = []
    let lnf, lnfMean, lnfRstd, logits, lse: UnsafeMutablePointer<Float>
    // Scratch shared by all layers.
    let qkv, attnOut, mlpOut: UnsafeMutablePointer<Float>
    /// Attention's per-thread scratch, forward and backward.
    let attentionScratch: UnsafeMutablePointer<Float>
    let dResidual, dLn1, dLn2, dHeads, dQ, dK, dV, dQPre, dKPre, dQKV, dAct, dGate, dUp: UnsafeMutablePointer<Float>

    struct Layer {
        var ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>                     // ln1 (and ln2) shared, rebuilt in the backward
        var qPre, kPre, qMean, qRstd, kMean, kRstd: UnsafeMutablePointer<Float>   // per-head norms only
        var q, k, v: UnsafeMutablePointer<Float>                                  // after norm and RoPE
        var attentionSaved: UnsafeMutablePointer<Float>                           // log-sum-exp (B, H, T) (CausalAttention.savedFloats)
        var heads: UnsafeMutablePointer<Float>                                    // (N, H·D) before the output projection
        var mid: UnsafeMutablePointer<Float>                                      // sequential residual only
        var ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>
        var gate, up: UnsafeMutablePointer<Float>
        var act: UnsafeMutablePointer<Float>                                      // shared by all layers, rebuilt in the backward
    }

    init(config c: ModelConfig, batch: Int, seqLen t: Int, logitRows: Int, attentionThreads: Int, countOnly: Bool = false) {
        arena = BufferArena(countOnly: countOnly)
        let n = batch * t, hidden = c.hiddenSize, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d, inter = c.intermediateSize
        let a = arena
        tokens = .allocate(capacity: n); tokens.initialize(repeating: 0, count: n)
        targets = .allocate(capacity: n); targets.initialize(repeating: -1, count: n)
        positions = .allocate(capacity: n); positions.initialize(repeating: 0, count: n)
        for _ in 0...c.numLayers { residual.append(a.floats(n * hidden)) }
        // The norms' outputs and the MLP's activation are one buffer each for all layers: the backward
        // rebuilds them from what the layer keeps (its input, the norms' statistics, gate and up), one
        // elementwise pass each instead of (N, C) or (N, intermediate) floats per layer (for SmolLM2-135M
        // at 4 × 256 tokens the two norms alone were 0.14 GB of 1.2 GB).
        let act = a.floats(n * inter)
        let hasMLPNorm = DecoderPlan(config: c).residual.hasMLPNorm
        let ln1 = a.floats(n * hidden), ln2 = a.floats(hasMLPNorm ? n * hidden : 0)
        for _ in 0..<c.numLayers {
            let qk = c.qkNorm
            layers.append(Layer(
                ln1: ln1, ln1Mean: a.floats(n), ln1Rstd: a.floats(n),
                qPre: a.floats(qk ? n * qDim : 0), kPre: a.floats(qk ? n * kvDim : 0),
                qMean: a.floats(qk ? n * c.numHeads : 0), qRstd: a.floats(qk ? n * c.numHeads : 0),
                kMean: a.floats(qk ? n * c.numKVHeads : 0), kRstd: a.floats(qk ? n * c.numKVHeads : 0),
                q: a.floats(n * qDim), k: a.floats(n * kvDim), v: a.floats(n * kvDim),
                attentionSaved: a.floats(CausalAttention.savedFloats(batch: batch, seqLen: t, heads: c.numHeads, headDim: d)),
                heads: a.floats(n * qDim),
                mid: a.floats(c.parallelResidual ? 0 : n * hidden),
                ln2: ln2, ln2Mean: a.floats(hasMLPNorm ? n : 0), ln2Rstd: a.floats(hasMLPNorm ? n : 0),
                gate: a.floats(c.mlp == .gatedSiLU ? n * inter : 0), up: a.floats(n * inter), act: act))
        }
        qkv = a.floats(c.fusedQKV != nil ? n * (qDim + 2 * kvDim) : 0)
        attnOut = a.floats(n * hidden); mlpOut = a.floats(n * hidden)
        for l in 0..<c.numLayers {
            let la = layers[l]
            func stats(_ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>) -> NormStats { NormStats(mean: mean, rstd: rstd) }
            layerActivations.append(LayerActivations(
                input: residual[l], output: residual[l + 1], mid: la.mid,
                ln1: la.ln1, ln1Stats: stats(la.ln1Mean, la.ln1Rstd), ln2: la.ln2, ln2Stats: stats(la.ln2Mean, la.ln2Rstd),
                qkv: qkv, qProj: c.qkNorm ? la.qPre : la.q, kProj: c.qkNorm ? la.kPre : la.k,
                qNormStats: c.qkNorm ? stats(la.qMean, la.qRstd) : nil, kNormStats: c.qkNorm ? stats(la.kMean, la.kRstd) : nil,
                q: la.q, k: la.k, v: la.v, heads: la.heads, attnOut: attnOut, mlpOut: mlpOut, gate: la.gate, up: la.up, act: la.act))
        }
        lnf = a.floats(n * hidden); lnfMean = a.floats(n); lnfRstd = a.floats(n)
        logits = a.floats(logitRows * c.vocabSize); lse = a.floats(n)
        dResidual = a.floats(n * hidden); dLn1 = a.floats(n * hidden); dLn2 = a.floats(n * hidden)
        dHeads = a.floats(n * qDim); dQ = a.floats(n * qDim); dK = a.floats(n * kvDim); dV = a.floats(n * kvDim)
        dQPre = a.floats(c.qkNorm ? n * qDim : 0); dKPre = a.floats(c.qkNorm ? n * kvDim : 0)
        dQKV = a.floats(c.fusedQKV != nil ? n * (qDim + 2 * kvDim) : 0)
        attentionScratch = a.floats(CausalAttention.scratchFloats(seqLen: t, headDim: d, threads: attentionThreads))
        dAct = a.floats(n * inter); dGate = a.floats(c.mlp == .gatedSiLU ? n * inter : 0); dUp = a.floats(n * inter)
    }

    deinit { tokens.deallocate(); targets.deallocate(); positions.deallocate() }
}
