// The decoder's structure, derived once from a ModelConfig: every weight by role, shape and whether it
// must be present, and the family's variants as enum cases. The weight loader (Inference), the
// trainer's parameter store, the checkpoint writer and the bytes-per-token count iterate `weights`;
// the forward switches on `qkv`, `residual`, `mlp`, `rope` and `norm` and on nothing else.

/// How q, k and v are projected.
public enum QKVProjection: Sendable, Equatable {
    /// Three matrices (q_proj, k_proj, v_proj).
    case separate
    /// One matrix whose output rows hold q, k and v in the given layout.
    case fused(FusedQKVLayout)
}

/// How a layer's attention and MLP meet the residual stream.
public enum ResidualWiring: Sendable, Equatable {
    /// x = x + attn(norm1(x)); x = x + mlp(norm2(x)) (Llama, StableLM).
    case sequential
    /// x = x + attn(norm1(x)) + mlp(norm2(x)) with its own norm (GPT-NeoX).
    case parallel
    /// x = x + attn(norm1(x)) + mlp(norm1(x)): one norm feeds both (StableLM's parallel block).
    case parallelSharedNorm

    /// Whether the layer has a second norm in front of the MLP.
    public var hasMLPNorm: Bool { self != .parallelSharedNorm }
}

/// The MLP's shape: gated (gate, up, down with SiLU) or plain (up, down with GELU).
public enum MLPProjection: Sendable, Equatable {
    case gated
    case plain(tanhGELU: Bool)
}

/// One weight of the decoder.
public struct PlannedWeight: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case matrix
        case vector
        /// Per-head norm weights (heads, headDim): one tensor per head in Hugging Face files, one stacked tensor in GGUF.
        case headNorm(heads: Int)
    }
    public enum Requirement: Sendable, Equatable {
        case required
        /// May be missing from a checkpoint; a missing one acts as zeros. No weight of the family is
        /// optional now (a LayerNorm bias left out of a file was once taken as zeros without a word);
        /// the case stays for a variant whose reference implementation really has none.
        case optional
    }
    public let role: WeightRole
    /// The layer, or nil for the embedding, the final norm and the LM head.
    public let layer: Int?
    public let shape: [Int]
    public let kind: Kind
    public let requirement: Requirement

    public var count: Int { shape.reduce(1, *) }

    /// Hugging Face tensor names: one, or one per head for per-head norms.
    public func hfNames(_ arch: Architecture) -> [String] {
        let name = role.hfName(arch, layer: layer ?? 0)
        if case .headNorm(let heads) = kind { return (0..<heads).map { "\(name)\($0).weight" } }
        return [name]
    }

    /// The GGUF tensor name (llama.cpp's).
    public var ggufName: String { role.ggufName(layer: layer ?? 0) }

    /// The shape of each stored Hugging Face tensor (a per-head norm's is one head's).
    public var hfShape: [Int] {
        if case .headNorm = kind { return [shape[1]] }
        return shape
    }
}

public struct DecoderPlan: Sendable {
    public let config: ModelConfig
    public let qkv: QKVProjection
    public let residual: ResidualWiring
    public let mlp: MLPProjection
    public let rope: RopeStyle
    public let norm: NormKind
    /// Every weight in checkpoint order: the embedding, each layer's, the final norm, the LM head (untied only).
    public let weights: [PlannedWeight]

    public init(config c: ModelConfig) {
        config = c
        qkv = c.fusedQKV.map { .fused($0) } ?? .separate
        switch (c.parallelResidual, c.architecture) {
        case (false, _): residual = .sequential
        case (true, .stablelm): residual = .parallelSharedNorm   // HF's StableLmDecoderLayer has no post_attention_layernorm then
        case (true, _): residual = .parallel
        }
        switch c.mlp {
        case .gatedSiLU: mlp = .gated
        case .gelu: mlp = .plain(tanhGELU: false)
        case .geluTanh: mlp = .plain(tanhGELU: true)
        }
        rope = c.ropeStyle
        norm = c.norm

        let hidden = c.hiddenSize, d = c.headDim, qDim = c.numHeads * d, kvDim = c.numKVHeads * d
        var w: [PlannedWeight] = []
        func add(_ role: WeightRole, _ layer: Int?, _ shape: [Int], _ kind: PlannedWeight.Kind = .matrix,
                 _ requirement: PlannedWeight.Requirement = .required) {
            w.append(PlannedWeight(role: role, layer: layer, shape: shape, kind: kind, requirement: requirement))
        }
        // LayerNorm has a bias (StableLM's and GPT-NeoX's always do, as llama.cpp requires); RMSNorm has none.
        func addNorm(_ weight: WeightRole, _ bias: WeightRole, _ layer: Int?) {
            add(weight, layer, [hidden], .vector)
            if c.norm == .layerNorm { add(bias, layer, [hidden], .vector) }
        }
        add(.tokenEmbedding, nil, [c.vocabSize, hidden])
        for l in 0..<c.numLayers {
            addNorm(.attnNormWeight, .attnNormBias, l)
            switch qkv {
            case .fused:
                add(.qkv, l, [qDim + 2 * kvDim, hidden])
                if c.qkvBias { add(.qkvBias, l, [qDim + 2 * kvDim], .vector) }
            case .separate:
                add(.q, l, [qDim, hidden]); if c.qkvBias { add(.qBias, l, [qDim], .vector) }
                add(.k, l, [kvDim, hidden]); if c.qkvBias { add(.kBias, l, [kvDim], .vector) }
                add(.v, l, [kvDim, hidden]); if c.qkvBias { add(.vBias, l, [kvDim], .vector) }
            }
            add(.o, l, [hidden, qDim]); if c.outputBias { add(.oBias, l, [hidden], .vector) }
            if c.qkNorm {
                add(.qNorm, l, [c.numHeads, d], .headNorm(heads: c.numHeads))
                add(.kNorm, l, [c.numKVHeads, d], .headNorm(heads: c.numKVHeads))
            }
            if residual.hasMLPNorm { addNorm(.mlpNormWeight, .mlpNormBias, l) }
            if mlp == .gated { add(.gate, l, [c.intermediateSize, hidden]) }
            add(.up, l, [c.intermediateSize, hidden]); if c.mlpBias { add(.upBias, l, [c.intermediateSize], .vector) }
            add(.down, l, [hidden, c.intermediateSize]); if c.mlpBias { add(.downBias, l, [hidden], .vector) }
        }
        addNorm(.finalNormWeight, .finalNormBias, nil)
        if !c.tieWordEmbeddings { add(.output, nil, [c.vocabSize, hidden]) }
        weights = w
    }

    /// The LM head as a weight of its own even when it is tied to the embedding (for a writer whose
    /// format requires the tensor, as llama.cpp's stablelm and gptneox loaders do).
    public var outputWeight: PlannedWeight {
        PlannedWeight(role: .output, layer: nil, shape: [config.vocabSize, config.hiddenSize], kind: .matrix, requirement: .required)
    }

    /// The weights of one layer (or the model-level ones for nil).
    public func weights(layer: Int?) -> [PlannedWeight] { weights.filter { $0.layer == layer } }
}
