// What a pretraining run is: the model's size (Hugging Face's config.json names), the context and
// batch, how long to train and the optimiser's settings. A run starts from a named preset (Presets.swift)
// and a JSON config file overrides any of its keys:
//
//   {"preset": "tiny", "hidden_size": 128, "num_hidden_layers": 4, "steps": 500, "lr": 2e-3}
//
// The vocabulary comes from the tokenizer, never from the config. Unknown keys are an error (a typo
// would otherwise be silently ignored).
import Foundation
import Checkpoints
import Kernels

public struct PretrainConfig: Codable, Equatable, Sendable {
    // Model (StableLM: LayerNorm, gated SiLU MLP, partial rotary).
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var intermediateSize: Int
    public var partialRotaryFactor: Double
    public var ropeTheta: Double
    public var tieWordEmbeddings: Bool
    public var parallelResidual: Bool
    public var qkvBias: Bool
    public var layerNormEps: Double
    public var initStd: Double

    // Data and batch: a step sees gradAccumulation × microBatchSize sequences of contextLength tokens.
    public var contextLength: Int
    public var microBatchSize: Int
    public var gradAccumulation: Int

    // Length: `minutes` (when set) plans the step count from the measured step time.
    public var steps: Int
    public var minutes: Double?

    // Optimiser and schedule (AdamW, linear warmup then cosine to minLR).
    public var lr: Double
    public var minLR: Double
    public var warmupSteps: Int
    public var weightDecay: Double
    public var beta1: Double
    public var beta2: Double
    /// Global-norm clipping; 0 turns it off.
    public var gradClip: Double

    // Evaluation, checkpoints and logging, in steps (0: only at the end).
    public var evalInterval: Int
    public var evalBatches: Int
    public var checkpointInterval: Int
    /// Intermediate checkpoints (DIR/step-N) kept; older ones are removed. 0 keeps all.
    public var keepCheckpoints: Int
    /// Steps between plain progress lines when standard output is not a terminal.
    public var logInterval: Int
    public var seed: UInt64
    /// The matmuls' arithmetic (BLAS.precision): f32, or bf16 inputs with f32 sums; master weights, gradients
    /// and AdamW stay f32 either way. nil (configs and checkpoints from before the setting) is f32.
    public var precision: GEMMPrecision?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hiddenSize = "hidden_size", numLayers = "num_hidden_layers", numHeads = "num_attention_heads"
        case numKVHeads = "num_key_value_heads", intermediateSize = "intermediate_size"
        case partialRotaryFactor = "partial_rotary_factor", ropeTheta = "rope_theta"
        case tieWordEmbeddings = "tie_word_embeddings", parallelResidual = "use_parallel_residual"
        case qkvBias = "use_qkv_bias", layerNormEps = "layer_norm_eps", initStd = "initializer_range"
        case contextLength = "context_length", microBatchSize = "micro_batch_size", gradAccumulation = "grad_accumulation"
        case steps, minutes, lr, minLR = "min_lr", warmupSteps = "warmup_steps", weightDecay = "weight_decay"
        case beta1, beta2, gradClip = "grad_clip", evalInterval = "eval_interval", evalBatches = "eval_batches"
        case checkpointInterval = "checkpoint_interval", keepCheckpoints = "keep_checkpoints", logInterval = "log_interval"
        case seed, precision
    }

    /// Every key a config file may hold (the config's own keys and `preset`).
    public static var fileKeys: [String] { ["preset"] + CodingKeys.allCases.map(\.rawValue) }

    /// Tokens one optimiser step trains on.
    public var tokensPerStep: Int { gradAccumulation * microBatchSize * contextLength }

    public var headDim: Int { numHeads > 0 ? hiddenSize / numHeads : 0 }
    /// As transformers computes it: int(head_dim × partial_rotary_factor).
    public var rotaryDim: Int { Int(Double(headDim) * partialRotaryFactor) }

    /// The model this config describes, for a tokenizer with `vocabSize` entries.
    public func modelConfig(vocabSize: Int, bosTokenID: Int?, eosTokenIDs: [Int]) -> ModelConfig {
        ModelConfig(architecture: .stablelm, vocabSize: vocabSize, hiddenSize: hiddenSize, intermediateSize: intermediateSize,
                    numLayers: numLayers, numHeads: numHeads, numKVHeads: numKVHeads, maxPositions: contextLength,
                    norm: .layerNorm, normEps: Float(layerNormEps), rotaryDim: rotaryDim, ropeTheta: Float(ropeTheta),
                    parallelResidual: parallelResidual, qkvBias: qkvBias, outputBias: false, mlpBias: false, qkNorm: false,
                    mlp: .gatedSiLU, tieWordEmbeddings: tieWordEmbeddings, bosTokenID: bosTokenID, eosTokenIDs: eosTokenIDs)
    }

    /// Checks that the sizes fit together and the settings are in range; `path` names the source in the error.
    public func validate(path: String) throws {
        func fail(_ what: String) -> PretrainError { .config(path: path, what: what) }
        for (name, value) in [("hidden_size", hiddenSize), ("num_hidden_layers", numLayers), ("num_attention_heads", numHeads),
                              ("num_key_value_heads", numKVHeads), ("intermediate_size", intermediateSize),
                              ("micro_batch_size", microBatchSize), ("grad_accumulation", gradAccumulation)] where value < 1 {
            throw fail("\(name) must be at least 1, not \(value)")
        }
        guard hiddenSize % numHeads == 0 else {
            throw fail("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numHeads)")
        }
        guard numHeads % numKVHeads == 0 else {
            throw fail("num_attention_heads \(numHeads) is not a multiple of num_key_value_heads \(numKVHeads)")
        }
        guard partialRotaryFactor >= 0, partialRotaryFactor <= 1 else { throw fail("partial_rotary_factor must be in [0, 1]") }
        guard rotaryDim % 2 == 0 else {
            throw fail("partial_rotary_factor \(partialRotaryFactor) × head dim \(headDim) gives \(rotaryDim) rotary dimensions; it must be even")
        }
        guard ropeTheta > 0 else { throw fail("rope_theta must be positive") }
        guard layerNormEps > 0, initStd > 0 else { throw fail("layer_norm_eps and initializer_range must be positive") }
        guard contextLength >= 2 else { throw fail("context_length must be at least 2, not \(contextLength)") }
        if let minutes { guard minutes > 0 else { throw fail("minutes must be positive") } } else {
            guard steps >= 1 else { throw fail("steps must be at least 1, not \(steps)") }
        }
        guard lr > 0, lr.isFinite else { throw fail("lr must be positive") }
        guard minLR >= 0, minLR <= lr else { throw fail("min_lr \(minLR) must be between 0 and lr \(lr)") }
        guard warmupSteps >= 0 else { throw fail("warmup_steps must not be negative") }
        guard weightDecay >= 0 else { throw fail("weight_decay must not be negative") }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else { throw fail("beta1 and beta2 must be in [0, 1)") }
        if precision == .bf16, !GEMM.isAvailable(.bf16) { throw fail("precision bf16 needs AVX512-BF16, which this CPU lacks (use f32)") }
        guard gradClip >= 0 else { throw fail("grad_clip must not be negative (0 turns clipping off)") }
        for (name, value) in [("eval_interval", evalInterval), ("eval_batches", evalBatches), ("checkpoint_interval", checkpointInterval),
                              ("keep_checkpoints", keepCheckpoints), ("log_interval", logInterval)] where value < 0 {
            throw fail("\(name) must not be negative")
        }
        do {
            try modelConfig(vocabSize: 1, bosTokenID: nil, eosTokenIDs: []).validate(path: path)
        } catch let error as CheckpointError {
            throw fail("\(error)")
        }
    }

    // MARK: - Reading

    /// A preset name or a JSON config file. A value that names an existing file is read as one;
    /// otherwise it must be a preset name.
    public static func resolve(_ value: String) throws -> PretrainConfig {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: value, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw PretrainError.config(path: value, what: "is a folder, not a config file") }
            return try load(path: value)
        }
        if let preset = Presets.named(value) { return preset }
        if value.contains("/") || value.hasSuffix(".json") || value.hasSuffix(".yaml") || value.hasSuffix(".yml") {
            throw PretrainError.config(path: value, what: "no such file")
        }
        throw PretrainError.unknownPreset(value)
    }

    /// A JSON object of overrides on a preset (`preset`, default `tiny`).
    public static func load(path: String) throws -> PretrainConfig {
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            throw PretrainError.config(path: path, what: "YAML configs are not read; write the same keys as a JSON object (.json)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw PretrainError.config(path: path, what: "cannot read the file") }
        return try parse(data, path: path)
    }

    public static func parse(_ data: Data, path: String) throws -> PretrainConfig {
        func fail(_ what: String) -> PretrainError { .config(path: path, what: what) }
        guard !data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) else { throw fail("the file is empty") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("not valid JSON (a config is a JSON object such as {\"preset\": \"tiny\", \"steps\": 200})")
        }
        guard var overrides = object as? [String: Any] else { throw fail("the config must be a JSON object") }
        let known = Set(fileKeys)
        if let unknown = overrides.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("unknown key '\(unknown)'")
        }
        var base = Presets.tiny
        if let name = overrides.removeValue(forKey: "preset") {
            guard let name = name as? String else { throw fail("'preset' must be a string") }
            guard let preset = Presets.named(name) else { throw fail("unknown preset '\(name)' (known: \(Presets.names.joined(separator: ", ")))") }
            base = preset
        }
        var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(base)) as! [String: Any]
        for (key, value) in overrides { merged[key] = value }
        if overrides["minutes"] is NSNull { merged.removeValue(forKey: "minutes") }
        do {
            return try JSONDecoder().decode(PretrainConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let key = context.codingPath.last?.stringValue ?? "?"
            throw fail("key '\(key)' has the wrong type")
        } catch DecodingError.dataCorrupted(let context) {
            let key = context.codingPath.last?.stringValue ?? "?"
            throw fail("key '\(key)': \(context.debugDescription)")
        } catch {
            throw fail("\(error)")
        }
    }

    /// The config as a JSON object with sorted keys (what the run store and trainer_state.json keep).
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }
}

/// What goes wrong before or around training, each a single line naming the file.
public enum PretrainError: Error, CustomStringConvertible, Equatable {
    case config(path: String, what: String)
    case unknownPreset(String)
    case data(path: String, what: String)
    case checkpoint(path: String, what: String)

    public var description: String {
        switch self {
        case .config(let path, let what): return "\(path): config: \(what)"
        case .unknownPreset(let name): return "unknown preset '\(name)' (known: \(Presets.names.joined(separator: ", ")); or give a JSON config file)"
        case .data(let path, let what): return "\(path): \(what)"
        case .checkpoint(let path, let what): return "\(path): \(what)"
        }
    }
}
