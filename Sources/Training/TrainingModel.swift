// The decoder for training: a forward pass over a batch of B sequences of T tokens that keeps every
// activation the backward needs, and the backward pass that turns the loss into gradients in the
// ParameterStore. The math is the inference forward's (Inference/Session.swift) — same norms, RoPE,
// attention, MLPs and residual wiring, switched by the same ModelConfig — without the KV cache.
// All buffers are allocated once in init; forward and backward allocate nothing.
import Foundation
import Checkpoints
import Kernels

public final class TrainingModel {
    public let config: ModelConfig
    public let parameters: ParameterStore
    public let batchSize: Int
    public let seqLen: Int
    /// Targets of the last forward: (B·T), labels shifted left by one, -1 where ignored.
    public var targets: UnsafePointer<Int32> { UnsafePointer(acts.targets) }
    /// Logits of the last forward: (B·T, vocab). The backward overwrites them with their gradient.
    public var logits: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: acts.logits, count: batchSize * seqLen * config.vocabSize) }
    /// Σ of the last forward's per-target losses and the number of targets.
    public private(set) var lossSum: Double = 0
    public private(set) var targetCount = 0
    /// Mean loss of the last forward over its non-ignored targets (0 when there are none).
    public var loss: Float { targetCount > 0 ? Float(lossSum / Double(targetCount)) : 0 }

    private let acts: Activations
    private let ropeCos: [Float], ropeSin: [Float]
    private var logitsAreGradients = false
    /// Whether the last forward packed documents (acts.positions holds their positions).
    private var usesPositions = false
    private var packedPositions: UnsafePointer<Int32>? { usesPositions ? UnsafePointer(acts.positions) : nil }

    /// The label value that marks a position as not scored (as in Hugging Face).
    public static let ignoreIndex = -100

    public init(parameters: ParameterStore, batchSize: Int, seqLen: Int) throws {
        let c = parameters.config
        guard batchSize > 0, seqLen > 0 else { throw TrainingError.badBatch("batch size and sequence length must be positive") }
        guard seqLen <= c.maxPositions else {
            throw TrainingError.badBatch("sequence length \(seqLen) is longer than max_position_embeddings \(c.maxPositions)")
        }
        config = c
        self.parameters = parameters
        self.batchSize = batchSize
        self.seqLen = seqLen
        acts = Activations(config: c, batch: batchSize, seqLen: seqLen)
        (ropeCos, ropeSin) = Ops.ropeTables(positions: seqLen, rotaryDim: c.rotaryDim, theta: c.ropeTheta)
    }

    /// Floats held for activations and gradient scratch.
    public var activationFloats: Int { acts.arena.floatCount }

    // MARK: - Forward

    /// Runs B×T `tokens` (row-major, sequence after sequence). With `labels` (same shape, -100 =
    /// ignored) it scores logits[b, t] against labels[b, t+1], as HF's causal-LM loss does, and returns
    /// the mean loss; without labels it only computes logits and returns 0.
    /// `positions` (same shape) packs several documents into one row: each token's position within its
    /// document (0 at a document's first token). RoPE uses it and attention stays inside the document.
    @discardableResult
    public func forward(tokens: [Int], labels: [Int]? = nil, positions: [Int]? = nil) throws -> Float {
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
        runForward()
        return loss
    }

    private func runForward() {
        let c = config, p = parameters.values, a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize

        Embedding.forward(ids: a.tokens, n: n, table: p + parameters.embedding, c: hidden, into: a.residual[0])
        for l in 0..<c.numLayers {
            let o = parameters.layers[l], la = a.layers[l]
            let x = a.residual[l], next = a.residual[l + 1]
            norm(x, weight: p + o.attnNormWeight, bias: o.attnNormBias.map { p + $0 }, into: la.ln1, la.ln1Mean, la.ln1Rstd)
            attentionForward(layer: l, input: la.ln1, into: a.attnOut)
            if c.parallelResidual {
                // x + attn(ln1(x)) + mlp(ln2(x)); StableLM's parallel block feeds the MLP ln1(x).
                var mlpIn = la.ln1
                if let w = o.mlpNormWeight {
                    norm(x, weight: p + w, bias: o.mlpNormBias.map { p + $0 }, into: la.ln2, la.ln2Mean, la.ln2Rstd)
                    mlpIn = la.ln2
                }
                mlpForward(layer: l, input: mlpIn, into: a.mlpOut)
                for i in 0..<n * hidden { next[i] = x[i] + a.attnOut[i] + a.mlpOut[i] }
            } else {
                for i in 0..<n * hidden { la.mid[i] = x[i] + a.attnOut[i] }
                norm(la.mid, weight: p + o.mlpNormWeight!, bias: o.mlpNormBias.map { p + $0 }, into: la.ln2, la.ln2Mean, la.ln2Rstd)
                mlpForward(layer: l, input: la.ln2, into: a.mlpOut)
                for i in 0..<n * hidden { next[i] = la.mid[i] + a.mlpOut[i] }
            }
        }
        norm(a.residual[c.numLayers], weight: p + parameters.finalNormWeight, bias: parameters.finalNormBias.map { p + $0 },
             into: a.lnf, a.lnfMean, a.lnfRstd)
        LinearLayer.forward(a.lnf, t: n, weight: p + parameters.output, bias: nil, inFeatures: hidden, outFeatures: c.vocabSize,
                            into: a.logits)
        (lossSum, targetCount) = CrossEntropy.forward(logits: a.logits, targets: a.targets, n: n, vocab: c.vocabSize, lse: a.lse)
        logitsAreGradients = false
    }

    /// x: (N, C) -> out: (N, C), with the row statistics kept (mean unused for RMSNorm).
    private func norm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                      into out: UnsafeMutablePointer<Float>, _ mean: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>) {
        let n = batchSize * seqLen, c = config
        switch c.norm {
        case .layerNorm: LayerNorm.forward(x, t: n, c: c.hiddenSize, weight: weight, bias: bias, eps: c.normEps, into: out, mean: mean, rstd: rstd)
        case .rmsNorm: RMSNorm.forward(x, t: n, c: c.hiddenSize, weight: weight, eps: c.normEps, into: out, rstd: rstd)
        }
    }

    private func normBackward(dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                              weight: Int, bias: Int?, dx: UnsafeMutablePointer<Float>) {
        let n = batchSize * seqLen, c = config, p = parameters.values, g = parameters.gradients
        switch c.norm {
        case .layerNorm:
            LayerNorm.backward(dout: dout, x: x, mean: mean, rstd: rstd, t: n, c: c.hiddenSize, weight: p + weight, dx: dx,
                               dweight: g + weight, dbias: bias.map { g + $0 })
        case .rmsNorm:
            RMSNorm.backward(dout: dout, x: x, rstd: rstd, t: n, c: c.hiddenSize, weight: p + weight, dx: dx, dweight: g + weight)
        }
    }

    /// input: (N, C) -> out: (N, C); keeps q, k, v (after norm and RoPE), the probabilities and the heads' output.
    private func attentionForward(layer l: Int, input: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let c = config, p = parameters.values, o = parameters.layers[l], la = acts.layers[l], a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d
        // With per-head norms the projections land in qPre/kPre and the norms write q/k.
        let qProj = c.qkNorm ? la.qPre : la.q, kProj = c.qkNorm ? la.kPre : la.k
        if let qkv = o.qkv {
            let width = qDim + 2 * kvDim
            LinearLayer.forward(input, t: n, weight: p + qkv, bias: o.qkvBias.map { p + $0 }, inFeatures: hidden, outFeatures: width,
                                into: a.qkv)
            for r in 0..<n {   // per head [q, k, v] of d each (GPT-NeoX, heads == kvHeads)
                let row = a.qkv + r * width
                for h in 0..<c.numHeads {
                    (qProj + r * qDim + h * d).update(from: row + h * 3 * d, count: d)
                    (kProj + r * kvDim + h * d).update(from: row + h * 3 * d + d, count: d)
                    (la.v + r * kvDim + h * d).update(from: row + h * 3 * d + 2 * d, count: d)
                }
            }
        } else {
            LinearLayer.forward(input, t: n, weight: p + o.q!, bias: o.qBias.map { p + $0 }, inFeatures: hidden, outFeatures: qDim, into: qProj)
            LinearLayer.forward(input, t: n, weight: p + o.k!, bias: o.kBias.map { p + $0 }, inFeatures: hidden, outFeatures: kvDim, into: kProj)
            LinearLayer.forward(input, t: n, weight: p + o.v!, bias: o.vBias.map { p + $0 }, inFeatures: hidden, outFeatures: kvDim, into: la.v)
        }
        if let qn = o.qNorm, let kn = o.kNorm {
            for r in 0..<n {
                for h in 0..<c.numHeads {
                    let i = r * c.numHeads + h
                    let s = LayerNorm.forwardRow(qProj + i * d, c: d, weight: p + qn + h * d, bias: nil, eps: c.normEps, into: la.q + i * d)
                    la.qMean[i] = s.mean; la.qRstd[i] = s.rstd
                }
                for h in 0..<c.numKVHeads {
                    let i = r * c.numKVHeads + h
                    let s = LayerNorm.forwardRow(kProj + i * d, c: d, weight: p + kn + h * d, bias: nil, eps: c.normEps, into: la.k + i * d)
                    la.kMean[i] = s.mean; la.kRstd[i] = s.rstd
                }
            }
        }
        ropeCos.withUnsafeBufferPointer { cos in
            ropeSin.withUnsafeBufferPointer { sin in
                Rotary.forward(la.q, rows: n, seqLen: seqLen, heads: c.numHeads, headDim: d, rotaryDim: c.rotaryDim,
                               cos: cos.baseAddress!, sin: sin.baseAddress!, positions: packedPositions)
                Rotary.forward(la.k, rows: n, seqLen: seqLen, heads: c.numKVHeads, headDim: d, rotaryDim: c.rotaryDim,
                               cos: cos.baseAddress!, sin: sin.baseAddress!, positions: packedPositions)
            }
        }
        CausalAttention.forward(q: la.q, k: la.k, v: la.v, batch: batchSize, seqLen: seqLen, heads: c.numHeads,
                                kvHeads: c.numKVHeads, headDim: d, probs: la.probs, out: la.heads, positions: packedPositions,
                                window: c.slidingWindow)
        LinearLayer.forward(la.heads, t: n, weight: p + o.o, bias: o.oBias.map { p + $0 }, inFeatures: qDim, outFeatures: hidden, into: out)
    }

    /// input: (N, C) -> out: (N, C); keeps the MLP's up (and gate) projections and its activation.
    private func mlpForward(layer l: Int, input: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let c = config, p = parameters.values, o = parameters.layers[l], la = acts.layers[l]
        let n = batchSize * seqLen, hidden = c.hiddenSize, inter = c.intermediateSize
        LinearLayer.forward(input, t: n, weight: p + o.up, bias: o.upBias.map { p + $0 }, inFeatures: hidden, outFeatures: inter, into: la.up)
        switch c.mlp {
        case .gatedSiLU:
            LinearLayer.forward(input, t: n, weight: p + o.gate!, bias: nil, inFeatures: hidden, outFeatures: inter, into: la.gate)
            GatedSiLU.forward(gate: la.gate, up: la.up, n: n * inter, into: la.act)
        case .gelu, .geluTanh:
            GELU.forward(la.up, n: n * inter, tanh: c.mlp == .geluTanh, into: la.act)
        }
        LinearLayer.forward(la.act, t: n, weight: p + o.down, bias: o.downBias.map { p + $0 }, inFeatures: inter, outFeatures: hidden, into: out)
    }

    // MARK: - Backward

    /// Adds ∂(lossScale · Σ target losses)/∂θ of the last forward to the gradient buffer. With the
    /// default scale, 1/targetCount, that is the gradient of the mean loss; gradient accumulation
    /// passes 1/(targets of all micro-batches). Gradients accumulate: zero them between steps.
    public func backward(lossScale: Float? = nil) {
        precondition(!logitsAreGradients, "backward needs a fresh forward")
        let c = config, p = parameters.values, g = parameters.gradients, a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize
        let scale = lossScale ?? (targetCount > 0 ? 1 / Float(targetCount) : 0)

        CrossEntropy.backward(logits: a.logits, targets: a.targets, lse: a.lse, n: n, vocab: c.vocabSize, scale: scale)
        logitsAreGradients = true
        let dres = a.dResidual, dln = a.dLn1
        dln.update(repeating: 0, count: n * hidden)
        LinearLayer.backward(dy: a.logits, x: a.lnf, t: n, weight: p + parameters.output, inFeatures: hidden, outFeatures: c.vocabSize,
                             dx: dln, dweight: g + parameters.output, dbias: nil)
        dres.update(repeating: 0, count: n * hidden)
        normBackward(dout: dln, x: a.residual[c.numLayers], mean: a.lnfMean, rstd: a.lnfRstd,
                     weight: parameters.finalNormWeight, bias: parameters.finalNormBias, dx: dres)

        for l in stride(from: c.numLayers - 1, through: 0, by: -1) {
            let o = parameters.layers[l], la = a.layers[l], x = a.residual[l]
            a.dLn1.update(repeating: 0, count: n * hidden)
            a.dLn2.update(repeating: 0, count: n * hidden)
            let sharedNorm = c.parallelResidual && o.mlpNormWeight == nil
            // MLP: its output adds to the residual, so its upstream gradient is dres.
            mlpBackward(layer: l, dout: dres, input: sharedNorm ? la.ln1 : la.ln2, dinput: sharedNorm ? a.dLn1 : a.dLn2)
            if !c.parallelResidual {
                // mid = x + attn; ln2 = norm(mid): dres becomes ∂/∂mid.
                normBackward(dout: a.dLn2, x: la.mid, mean: la.ln2Mean, rstd: la.ln2Rstd, weight: o.mlpNormWeight!, bias: o.mlpNormBias, dx: dres)
            }
            attentionBackward(layer: l, dout: dres, dinput: a.dLn1)
            if c.parallelResidual, let w = o.mlpNormWeight {
                normBackward(dout: a.dLn2, x: x, mean: la.ln2Mean, rstd: la.ln2Rstd, weight: w, bias: o.mlpNormBias, dx: dres)
            }
            normBackward(dout: a.dLn1, x: x, mean: la.ln1Mean, rstd: la.ln1Rstd, weight: o.attnNormWeight, bias: o.attnNormBias, dx: dres)
        }
        Embedding.backward(ids: a.tokens, n: n, dout: dres, c: hidden, dtable: g + parameters.embedding)
    }

    /// dout: (N, C) -> dinput: (N, C) +=, parameter gradients +=.
    private func mlpBackward(layer l: Int, dout: UnsafePointer<Float>, input: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>) {
        let c = config, p = parameters.values, g = parameters.gradients, o = parameters.layers[l], la = acts.layers[l], a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize, inter = c.intermediateSize
        a.dAct.update(repeating: 0, count: n * inter)
        LinearLayer.backward(dy: dout, x: la.act, t: n, weight: p + o.down, inFeatures: inter, outFeatures: hidden, dx: a.dAct,
                             dweight: g + o.down, dbias: o.downBias.map { g + $0 })
        switch c.mlp {
        case .gatedSiLU:
            GatedSiLU.backward(dout: a.dAct, gate: la.gate, up: la.up, n: n * inter, dgate: a.dGate, dup: a.dUp)
            LinearLayer.backward(dy: a.dGate, x: input, t: n, weight: p + o.gate!, inFeatures: hidden, outFeatures: inter, dx: dinput,
                                 dweight: g + o.gate!, dbias: nil)
        case .gelu, .geluTanh:
            GELU.backward(dout: a.dAct, x: la.up, n: n * inter, tanh: c.mlp == .geluTanh, dx: a.dUp)
        }
        LinearLayer.backward(dy: a.dUp, x: input, t: n, weight: p + o.up, inFeatures: hidden, outFeatures: inter, dx: dinput,
                             dweight: g + o.up, dbias: o.upBias.map { g + $0 })
    }

    /// dout: (N, C) (gradient of the attention block's output) -> dinput: (N, C) +=, parameter gradients +=.
    private func attentionBackward(layer l: Int, dout: UnsafePointer<Float>, dinput: UnsafeMutablePointer<Float>) {
        let c = config, p = parameters.values, g = parameters.gradients, o = parameters.layers[l], la = acts.layers[l], a = acts
        let n = batchSize * seqLen, hidden = c.hiddenSize, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d
        a.dHeads.update(repeating: 0, count: n * qDim)
        LinearLayer.backward(dy: dout, x: la.heads, t: n, weight: p + o.o, inFeatures: qDim, outFeatures: hidden, dx: a.dHeads,
                             dweight: g + o.o, dbias: o.oBias.map { g + $0 })
        CausalAttention.backward(dout: a.dHeads, q: la.q, k: la.k, v: la.v, probs: la.probs, batch: batchSize, seqLen: seqLen,
                                 heads: c.numHeads, kvHeads: c.numKVHeads, headDim: d, dq: a.dQ, dk: a.dK, dv: a.dV, scratch: a.dProbs,
                                 positions: packedPositions, window: c.slidingWindow)
        ropeCos.withUnsafeBufferPointer { cos in
            ropeSin.withUnsafeBufferPointer { sin in
                Rotary.backward(a.dQ, rows: n, seqLen: seqLen, heads: c.numHeads, headDim: d, rotaryDim: c.rotaryDim,
                                cos: cos.baseAddress!, sin: sin.baseAddress!, positions: packedPositions)
                Rotary.backward(a.dK, rows: n, seqLen: seqLen, heads: c.numKVHeads, headDim: d, rotaryDim: c.rotaryDim,
                                cos: cos.baseAddress!, sin: sin.baseAddress!, positions: packedPositions)
            }
        }
        var dqProj = a.dQ, dkProj = a.dK
        if let qn = o.qNorm, let kn = o.kNorm {
            let qPre = la.qPre, kPre = la.kPre
            a.dQPre.update(repeating: 0, count: n * qDim)
            a.dKPre.update(repeating: 0, count: n * kvDim)
            for r in 0..<n {
                for h in 0..<c.numHeads {
                    let i = r * c.numHeads + h
                    LayerNorm.backwardRow(dout: a.dQ + i * d, x: qPre + i * d, mean: la.qMean[i], rstd: la.qRstd[i], c: d,
                                          weight: p + qn + h * d, dx: a.dQPre + i * d, dweight: g + qn + h * d, dbias: nil)
                }
                for h in 0..<c.numKVHeads {
                    let i = r * c.numKVHeads + h
                    LayerNorm.backwardRow(dout: a.dK + i * d, x: kPre + i * d, mean: la.kMean[i], rstd: la.kRstd[i], c: d,
                                          weight: p + kn + h * d, dx: a.dKPre + i * d, dweight: g + kn + h * d, dbias: nil)
                }
            }
            dqProj = a.dQPre; dkProj = a.dKPre
        }
        if let qkv = o.qkv {
            let width = qDim + 2 * kvDim
            for r in 0..<n {
                let row = a.dQKV + r * width
                for h in 0..<c.numHeads {
                    (row + h * 3 * d).update(from: dqProj + r * qDim + h * d, count: d)
                    (row + h * 3 * d + d).update(from: dkProj + r * kvDim + h * d, count: d)
                    (row + h * 3 * d + 2 * d).update(from: a.dV + r * kvDim + h * d, count: d)
                }
            }
            LinearLayer.backward(dy: a.dQKV, x: la.ln1, t: n, weight: p + qkv, inFeatures: hidden, outFeatures: width, dx: dinput,
                                 dweight: g + qkv, dbias: o.qkvBias.map { g + $0 })
        } else {
            LinearLayer.backward(dy: dqProj, x: la.ln1, t: n, weight: p + o.q!, inFeatures: hidden, outFeatures: qDim, dx: dinput,
                                 dweight: g + o.q!, dbias: o.qBias.map { g + $0 })
            LinearLayer.backward(dy: dkProj, x: la.ln1, t: n, weight: p + o.k!, inFeatures: hidden, outFeatures: kvDim, dx: dinput,
                                 dweight: g + o.k!, dbias: o.kBias.map { g + $0 })
            LinearLayer.backward(dy: a.dV, x: la.ln1, t: n, weight: p + o.v!, inFeatures: hidden, outFeatures: kvDim, dx: dinput,
                                 dweight: g + o.v!, dbias: o.vBias.map { g + $0 })
        }
    }
}

/// Everything the forward keeps for the backward, and the backward's scratch, for B·T = N rows.
final class Activations {
    let arena = BufferArena()
    let tokens: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>
    /// Each token's position within its document, for packed batches.
    let positions: UnsafeMutablePointer<Int32>
    /// The residual stream entering each layer, and after the last: L + 1 buffers of (N, C).
    var residual: [UnsafeMutablePointer<Float>] = []
    var layers: [Layer] = []
    let lnf, lnfMean, lnfRstd, logits, lse: UnsafeMutablePointer<Float>
    // Scratch shared by all layers.
    let qkv, attnOut, mlpOut: UnsafeMutablePointer<Float>
    let dResidual, dLn1, dLn2, dHeads, dQ, dK, dV, dQPre, dKPre, dQKV, dProbs, dAct, dGate, dUp: UnsafeMutablePointer<Float>

    struct Layer {
        var ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>
        var qPre, kPre, qMean, qRstd, kMean, kRstd: UnsafeMutablePointer<Float>   // per-head norms only
        var q, k, v: UnsafeMutablePointer<Float>                                  // after norm and RoPE
        var probs: UnsafeMutablePointer<Float>                                    // (B, H, T, T)
        var heads: UnsafeMutablePointer<Float>                                    // (N, H·D) before the output projection
        var mid: UnsafeMutablePointer<Float>                                      // sequential residual only
        var ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>
        var gate, up, act: UnsafeMutablePointer<Float>
    }

    init(config c: ModelConfig, batch: Int, seqLen t: Int) {
        let n = batch * t, hidden = c.hiddenSize, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d, inter = c.intermediateSize
        let a = arena
        tokens = .allocate(capacity: n); tokens.initialize(repeating: 0, count: n)
        targets = .allocate(capacity: n); targets.initialize(repeating: -1, count: n)
        positions = .allocate(capacity: n); positions.initialize(repeating: 0, count: n)
        for _ in 0...c.numLayers { residual.append(a.floats(n * hidden)) }
        for _ in 0..<c.numLayers {
            let qk = c.qkNorm
            let hasMLPNorm = !(c.parallelResidual && c.architecture == .stablelm)
            layers.append(Layer(
                ln1: a.floats(n * hidden), ln1Mean: a.floats(n), ln1Rstd: a.floats(n),
                qPre: a.floats(qk ? n * qDim : 0), kPre: a.floats(qk ? n * kvDim : 0),
                qMean: a.floats(qk ? n * c.numHeads : 0), qRstd: a.floats(qk ? n * c.numHeads : 0),
                kMean: a.floats(qk ? n * c.numKVHeads : 0), kRstd: a.floats(qk ? n * c.numKVHeads : 0),
                q: a.floats(n * qDim), k: a.floats(n * kvDim), v: a.floats(n * kvDim),
                probs: a.floats(batch * c.numHeads * t * t), heads: a.floats(n * qDim),
                mid: a.floats(c.parallelResidual ? 0 : n * hidden),
                ln2: a.floats(hasMLPNorm ? n * hidden : 0), ln2Mean: a.floats(hasMLPNorm ? n : 0), ln2Rstd: a.floats(hasMLPNorm ? n : 0),
                gate: a.floats(c.mlp == .gatedSiLU ? n * inter : 0), up: a.floats(n * inter), act: a.floats(n * inter)))
        }
        lnf = a.floats(n * hidden); lnfMean = a.floats(n); lnfRstd = a.floats(n)
        logits = a.floats(n * c.vocabSize); lse = a.floats(n)
        qkv = a.floats(c.fusedQKV != nil ? n * (qDim + 2 * kvDim) : 0)
        attnOut = a.floats(n * hidden); mlpOut = a.floats(n * hidden)
        dResidual = a.floats(n * hidden); dLn1 = a.floats(n * hidden); dLn2 = a.floats(n * hidden)
        dHeads = a.floats(n * qDim); dQ = a.floats(n * qDim); dK = a.floats(n * kvDim); dV = a.floats(n * kvDim)
        dQPre = a.floats(c.qkNorm ? n * qDim : 0); dKPre = a.floats(c.qkNorm ? n * kvDim : 0)
        dQKV = a.floats(c.fusedQKV != nil ? n * (qDim + 2 * kvDim) : 0)
        dProbs = a.floats(t * t)
        dAct = a.floats(n * inter); dGate = a.floats(c.mlp == .gatedSiLU ? n * inter : 0); dUp = a.floats(n * inter)
    }

    deinit { tokens.deallocate(); targets.deallocate(); positions.deallocate() }
}
