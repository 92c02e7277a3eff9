// The one decoder description shared by inference and training. Hugging Face's config.json keys
// decode into `HFConfig` (its own names); `ModelConfig` is the resolved model with its switches.
import Foundation

public enum Architecture: String, Codable, Sendable {
    case stablelm, gptNeoX = "gpt_neox", llama
}

public enum NormKind: String, Codable, Sendable { case layerNorm, rmsNorm }
public enum MLPKind: String, Codable, Sendable { case gatedSiLU, gelu, geluTanh }

/// How rotary dimensions are paired: `halves` rotates x[i] with x[i + d/2] (GPT-NeoX / HF "rotate_half"),
/// `adjacent` rotates x[2i] with x[2i+1] (ggml's NORM mode, used by Llama GGUF files whose q/k rows are permuted).
public enum RopeStyle: String, Codable, Sendable { case halves, adjacent }

/// How a fused query_key_value projection lays out its output.
public enum FusedQKVLayout: String, Codable, Sendable {
    /// Hugging Face GPT-NeoX: per head, [q, k, v] of head_dim each.
    case perHead
    /// llama.cpp GGUF: all of q, then all of k, then all of v.
    case blocked
}

public struct ModelConfig: Codable, Sendable, Equatable {
    public var architecture: Architecture
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var maxPositions: Int
    public var norm: NormKind
    public var normEps: Float
    public var rotaryDim: Int
    public var ropeTheta: Float
    public var ropeStyle: RopeStyle
    public var parallelResidual: Bool
    public var qkvBias: Bool
    public var outputBias: Bool      // bias on the attention output projection
    public var mlpBias: Bool
    public var qkNorm: Bool          // per-head LayerNorm on q and k (StableLM 2 12B style)
    public var mlp: MLPKind
    public var fusedQKV: FusedQKVLayout?
    public var tieWordEmbeddings: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// Mistral's sliding-window attention: a query sees only the last `slidingWindow` positions
    /// (itself included); nil sees every earlier position.
    public var slidingWindow: Int? = nil
    /// RoPE frequency scaling (config.json's rope_parameters / rope_scaling, GGUF's rope.scaling.*).
    public var ropeScaling: RopeScaling = .none

    public init(architecture: Architecture, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, numLayers: Int,
                numHeads: Int, numKVHeads: Int, headDim: Int? = nil, maxPositions: Int, norm: NormKind, normEps: Float,
                rotaryDim: Int, ropeTheta: Float, ropeStyle: RopeStyle = .halves, parallelResidual: Bool, qkvBias: Bool,
                outputBias: Bool, mlpBias: Bool, qkNorm: Bool, mlp: MLPKind, fusedQKV: FusedQKVLayout? = nil,
                tieWordEmbeddings: Bool, bosTokenID: Int? = nil, eosTokenIDs: [Int] = []) {
        self.architecture = architecture; self.vocabSize = vocabSize; self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize; self.numLayers = numLayers; self.numHeads = numHeads
        self.numKVHeads = numKVHeads; self.headDim = headDim ?? (numHeads > 0 ? hiddenSize / numHeads : 0)
        self.maxPositions = maxPositions; self.norm = norm; self.normEps = normEps; self.rotaryDim = rotaryDim
        self.ropeTheta = ropeTheta; self.ropeStyle = ropeStyle; self.parallelResidual = parallelResidual
        self.qkvBias = qkvBias; self.outputBias = outputBias; self.mlpBias = mlpBias; self.qkNorm = qkNorm
        self.mlp = mlp; self.fusedQKV = fusedQKV; self.tieWordEmbeddings = tieWordEmbeddings
        self.bosTokenID = bosTokenID; self.eosTokenIDs = eosTokenIDs
    }

    /// The most positions a session runs, whatever the file declares (`Model.contextLength(requested:)`).
    public static let contextLimit = 1 << 20
    /// The most layers a config may declare (the structure is planned per layer before any weight is read).
    public static let layerLimit = 1 << 12
    /// The most attention heads (query or key/value) a config may declare.
    public static let headLimit = 1 << 12
    /// The largest hidden, intermediate and head size: with these limits no product of sizes overflows.
    public static let dimensionLimit = 1 << 20
    /// The largest vocabulary (as HuggingFaceTokenizerFile.vocabularyLimit).
    public static let vocabularyLimit = 1 << 21

    /// Checks the sizes fit together and lie within the named limits, and the norm and rotary settings
    /// are in range; `path` names the file in the error.
    public func validate(path: String) throws {
        func fail(_ what: String) -> CheckpointError { .invalidConfig(path: path, what: what) }
        guard vocabSize > 0, hiddenSize > 0, numLayers > 0, numHeads > 0, intermediateSize > 0 else {
            throw fail("vocab_size, hidden_size, num_hidden_layers, num_attention_heads and intermediate_size must be positive")
        }
        for (name, value, limit, constant) in [
            ("vocab_size", vocabSize, Self.vocabularyLimit, "vocabularyLimit"), ("num_hidden_layers", numLayers, Self.layerLimit, "layerLimit"),
            ("num_attention_heads", numHeads, Self.headLimit, "headLimit"), ("num_key_value_heads", numKVHeads, Self.headLimit, "headLimit"),
            ("hidden_size", hiddenSize, Self.dimensionLimit, "dimensionLimit"),
            ("intermediate_size", intermediateSize, Self.dimensionLimit, "dimensionLimit"),
            ("head_dim", headDim, Self.dimensionLimit, "dimensionLimit"),
        ] where value > limit {
            throw fail("\(name) \(value) exceeds the limit of \(limit) (ModelConfig.\(constant))")
        }
        guard normEps.isFinite, normEps > 0, normEps < 1 else {
            throw fail("\(norm == .rmsNorm ? "rms_norm_eps" : "layer_norm_eps") \(normEps) must be a number between 0 and 1 (exclusive)")
        }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw fail("rope_theta \(ropeTheta) must be a positive finite number") }
        guard headDim > 0 else { throw fail("head dimension \(headDim) must be positive") }
        guard numKVHeads > 0, numHeads % numKVHeads == 0 else {
            throw fail("num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKVHeads)")
        }
        if fusedQKV != nil || architecture != .llama {
            guard hiddenSize % numHeads == 0 else { throw fail("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)") }
        }
        guard rotaryDim >= 0, rotaryDim <= headDim, rotaryDim % 2 == 0 else {
            throw fail("rotary dimension \(rotaryDim) must be even and at most head_dim \(headDim)")
        }
        guard maxPositions > 0 else { throw fail("max_position_embeddings must be positive") }
        if let w = slidingWindow, w <= 0 { throw fail("sliding_window \(w) must be positive") }
        try ropeScaling.validate(path: path)
    }

    /// Inverse frequencies of the rotary pairs with the scaling applied: (rotaryDim / 2).
    public var ropeInverseFrequencies: [Float] { ropeScaling.inverseFrequencies(rotaryDim: rotaryDim, theta: ropeTheta) }

    /// The first key position the query at `position` attends to (transformers' sliding-window
    /// mask keeps key j when j > position - sliding_window).
    @inline(__always)
    public func firstAttendedPosition(query position: Int) -> Int {
        Self.firstAttendedPosition(query: position, window: slidingWindow)
    }

    /// The same for a window given on its own (nil: every earlier key is visible).
    @inline(__always)
    public static func firstAttendedPosition(query position: Int, window: Int?) -> Int {
        guard let w = window else { return 0 }
        return max(0, position - w + 1)
    }

    /// Parameter count of the model (embeddings counted once when tied).
    public var parameterCount: Int {
        let attn = hiddenSize * numHeads * headDim + 2 * hiddenSize * numKVHeads * headDim + numHeads * headDim * hiddenSize
        let mlpParams = (mlp == .gatedSiLU ? 3 : 2) * hiddenSize * intermediateSize
        let embed = vocabSize * hiddenSize * (tieWordEmbeddings ? 1 : 2)
        return numLayers * (attn + mlpParams) + embed
    }
}

/// config.json as Hugging Face writes it (only the keys hayai reads; names are HF's own).
public struct HFConfig: Codable, Sendable {
    public var model_type: String?
    public var architectures: [String]?
    public var vocab_size: Int?
    public var hidden_size: Int?
    public var intermediate_size: Int?
    public var num_hidden_layers: Int?
    public var num_attention_heads: Int?
    public var num_key_value_heads: Int?
    public var head_dim: Int?
    public var max_position_embeddings: Int?
    public var layer_norm_eps: Double?
    public var rms_norm_eps: Double?
    public var hidden_act: String?
    public var rope_theta: Double?
    public var partial_rotary_factor: Double?
    public var rotary_pct: Double?
    public var rotary_emb_base: Double?
    public var rope_parameters: RopeParameters?
    public var rope_scaling: RopeParameters?
    public var use_parallel_residual: Bool?
    public var use_qkv_bias: Bool?
    public var attention_bias: Bool?
    public var mlp_bias: Bool?
    public var qk_layernorm: Bool?
    public var tie_word_embeddings: Bool?
    public var sliding_window: Int?
    public var bos_token_id: IntOrList?
    public var eos_token_id: IntOrList?

    public struct RopeParameters: Codable, Sendable {
        public var rope_theta: Double?
        public var partial_rotary_factor: Double?
        public var rope_type: String?
        public var type: String?
        public var factor: Double?
        public var low_freq_factor: Double?
        public var high_freq_factor: Double?
        public var original_max_position_embeddings: Int?
    }

    /// Token ids may be one number or a list of them.
    public struct IntOrList: Codable, Sendable, Equatable {
        public var values: [Int]
        public init(_ values: [Int]) { self.values = values }
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let v = try? c.decode(Int.self) { values = [v] } else if c.decodeNil() { values = [] } else { values = try c.decode([Int].self) }
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if values.count == 1 { try c.encode(values[0]) } else { try c.encode(values) }
        }
    }

    public static func load(path: String) throws -> HFConfig {
        let data = try readConfigFile(path)
        var config = try decodeJSON(HFConfig.self, from: data, path: path)
        // transformers' MistralConfig defaults sliding_window to 4096 when the key is absent (null turns it off).
        if config.model_type == "mistral", config.sliding_window == nil,
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["sliding_window"] == nil {
            config.sliding_window = 4096
        }
        return config
    }

    /// Resolves HF's keys (old top-level rope keys or transformers 5's nested rope_parameters) to a model.
    public func resolve(path: String) throws -> ModelConfig {
        func need(_ v: Int?, _ key: String) throws -> Int {
            guard let v else { throw CheckpointError.invalidConfig(path: path, what: "missing \(key)") }
            return v
        }
        // Without model_type, the class named in `architectures` (transformers' AutoModel names) tells.
        let classes = ["StableLmForCausalLM": "stablelm", "GPTNeoXForCausalLM": "gpt_neox", "LlamaForCausalLM": "llama",
                       "MistralForCausalLM": "mistral"]
        let type = model_type ?? architectures?.lazy.compactMap { classes[$0] }.first ?? ""
        let arch: Architecture
        switch type {
        case "stablelm", "stablelm_epoch": arch = .stablelm
        case "gpt_neox": arch = .gptNeoX
        case "llama", "mistral": arch = .llama
        default:
            let named = architectures.map { "(no model_type; architectures \($0.joined(separator: ", ")))" } ?? "(no model_type or architectures)"
            throw CheckpointError.unknownArchitecture(path: path, name: type.isEmpty ? named : type)
        }
        // transformers 5 nests the scaling in rope_parameters; older files have rope_scaling.
        // Whichever names a type other than default (rope_parameters first).
        let scaling = try RopeScaling.resolve([rope_parameters, rope_scaling].first { p in
            (p?.rope_type ?? p?.type).map { $0 != "default" } ?? false
        } ?? nil, maxPositions: max_position_embeddings, path: path)
        let hidden = try need(hidden_size, "hidden_size")
        let heads = try need(num_attention_heads, "num_attention_heads")
        guard heads > 0 else { throw CheckpointError.invalidConfig(path: path, what: "num_attention_heads must be positive") }
        let headDim = head_dim ?? hidden / heads
        let theta = rope_parameters?.rope_theta ?? rope_theta ?? rotary_emb_base ?? 10000
        let fraction = rope_parameters?.partial_rotary_factor ?? partial_rotary_factor ?? rotary_pct ?? (arch == .llama ? 1.0 : (arch == .stablelm ? 0.25 : 0.25))
        guard fraction >= 0, fraction <= 1, headDim > 0 else {
            throw CheckpointError.invalidConfig(path: path, what: headDim > 0 ? "partial rotary factor \(fraction) is not between 0 and 1"
                                                    : "head dimension \(headDim) must be positive")
        }
        let rotary = Int(Double(headDim) * fraction)
        let act = (hidden_act ?? (arch == .gptNeoX ? "gelu" : "silu")).lowercased()
        let mlp: MLPKind
        switch (arch, act) {
        case (.gptNeoX, "gelu"): mlp = .gelu
        case (.gptNeoX, "gelu_new"), (.gptNeoX, "gelu_fast"), (.gptNeoX, "gelu_pytorch_tanh"): mlp = .geluTanh
        case (.gptNeoX, _): throw CheckpointError.invalidConfig(path: path, what: "hidden_act '\(act)' is not supported for gpt_neox")
        case (_, "silu"), (_, "swish"): mlp = .gatedSiLU
        default: throw CheckpointError.invalidConfig(path: path, what: "hidden_act '\(act)' is not supported (expected silu)")
        }
        var config = ModelConfig(
            architecture: arch,
            vocabSize: try need(vocab_size, "vocab_size"),
            hiddenSize: hidden,
            intermediateSize: try need(intermediate_size, "intermediate_size"),
            numLayers: try need(num_hidden_layers, "num_hidden_layers"),
            numHeads: heads,
            numKVHeads: arch == .gptNeoX ? heads : (num_key_value_heads ?? heads),
            headDim: headDim,
            maxPositions: max_position_embeddings ?? 2048,
            norm: arch == .llama ? .rmsNorm : .layerNorm,
            normEps: Float(arch == .llama ? (rms_norm_eps ?? 1e-6) : (layer_norm_eps ?? 1e-5)),
            rotaryDim: rotary,
            ropeTheta: Float(theta),
            ropeStyle: .halves,
            parallelResidual: use_parallel_residual ?? (arch == .gptNeoX),
            qkvBias: arch == .gptNeoX ? (attention_bias ?? true) : (arch == .stablelm ? (use_qkv_bias ?? false) : (attention_bias ?? false)),
            outputBias: arch == .gptNeoX ? (attention_bias ?? true) : (arch == .llama ? (attention_bias ?? false) : false),
            mlpBias: arch == .gptNeoX ? true : (arch == .llama ? (mlp_bias ?? false) : false),
            qkNorm: arch == .stablelm ? (qk_layernorm ?? false) : false,
            mlp: mlp,
            fusedQKV: arch == .gptNeoX ? .perHead : nil,
            tieWordEmbeddings: tie_word_embeddings ?? (arch == .llama ? false : false),
            bosTokenID: bos_token_id?.values.first,
            eosTokenIDs: eos_token_id?.values ?? [])
        if type == "mistral" { config.slidingWindow = sliding_window }
        config.ropeScaling = scaling
        try config.validate(path: path)
        return config
    }
}

/// Decodes a JSON file's contents, turning decoding failures into one-line errors that name the key.
func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws -> T {
    guard let json = try? JSONSerialization.jsonObject(with: data, options: []) else {
        throw CheckpointError.malformed(path: path, what: "not valid JSON")
    }
    func key(_ ctx: DecodingError.Context) -> String {
        ctx.codingPath.reduce(into: "") { text, key in
            if let i = key.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + key.stringValue }
        }
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch DecodingError.typeMismatch(_, let ctx) where ctx.codingPath.isEmpty {
        throw CheckpointError.invalidConfig(path: path, what: "the top level is not a JSON object")
    } catch DecodingError.typeMismatch(_, let ctx) {
        throw CheckpointError.invalidConfig(path: path, what: "key \(key(ctx)) has the wrong type")
    } catch DecodingError.valueNotFound(_, let ctx) {
        throw CheckpointError.invalidConfig(path: path, what: "key \(key(ctx)) is null")
    } catch DecodingError.keyNotFound(let missing, let ctx) {
        let owner = key(ctx)
        throw CheckpointError.invalidConfig(path: path, what: "missing key \(owner.isEmpty ? "" : owner + ".")\(missing.stringValue)")
    } catch DecodingError.dataCorrupted(let ctx) where !ctx.codingPath.isEmpty {
        throw CheckpointError.invalidConfig(path: path, what: "key \(key(ctx)) has a bad value")
    } catch DecodingError.dataCorrupted {
        // Some JSONDecoders report a number that does not fit its type (2.5 or 1e30 for an Int) without
        // saying where; decoding each top-level key alone finds it.
        let object = json as? [String: Any] ?? [:]
        let culprit = object.keys.sorted().first { k in
            guard let one = try? JSONSerialization.data(withJSONObject: [k: object[k]!], options: []) else { return false }
            do { _ = try JSONDecoder().decode(T.self, from: one); return false } catch DecodingError.dataCorrupted { return true } catch { return false }
        }
        throw CheckpointError.invalidConfig(path: path, what: "\(culprit.map { "key \($0)" } ?? "a value") has a bad value (a number that is not whole or is out of range)")
    } catch {
        throw CheckpointError.malformed(path: path, what: "not valid JSON")
    }
}
