// A loaded model: its config, weights and (when the checkpoint has one) tokenizer. Sessions
// (InferenceSession) run it; many sessions can share one Model.
import Foundation
import Checkpoints
import Kernels
import Tokenizers

public final class Model: @unchecked Sendable {
    public let config: ModelConfig
    /// The decoder's structure, derived once from the config.
    public let plan: DecoderPlan
    public let weights: DecoderWeights
    public let path: String
    /// The checkpoint's tokenizer (tokenizer.json in the folder, or the GGUF's tokenizer metadata), when it has one.
    public let tokenizer: Tokenizer?
    /// The files the weights are mapped from (kept alive with the model).
    public let sources: [TensorSource]
    /// The PEFT LoRA adapter folder run beside the weights, when one is (its tokenizer_config.json may
    /// carry the chat template the adapter was trained in).
    public let adapterPath: String?

    /// `interleave` repacks quantized matrices (every type with x16 kernels) into the 16-row layout of the AVX512-VNNI kernels
    /// where the CPU has them (QuantizedMatrix.interleaved(); same size, results equal up to float
    /// addition order). The token embedding keeps the GGUF layout unless it is also the output.
    public init(config: ModelConfig, weights: DecoderWeights, path: String, sources: [TensorSource], tokenizer: Tokenizer? = nil,
                interleave: Bool = true, adapterPath: String? = nil) {
        self.config = config
        self.plan = DecoderPlan(config: config)
        self.tokenizer = tokenizer
        self.weights = interleave ? weights.interleaved(tied: config.tieWordEmbeddings) : weights
        self.path = path
        self.sources = sources
        self.adapterPath = adapterPath
    }

    /// The positions a session runs: min(the file's `max_position_embeddings` / `context_length`, the
    /// requested context (`--ctx`; default 4096), ModelConfig.contextLimit). Files declare what they like
    /// (2^32 - 1 included); tables and caches are sized by this, never by the file's value alone.
    public func contextLength(requested: Int?) -> Int {
        min(requested ?? Self.defaultContextLength, config.maxPositions, ModelConfig.contextLimit)
    }

    /// The context a session gets when none is asked for.
    public static let defaultContextLength = 4096

    /// Loads a Hugging Face folder (config.json + model.safetensors or shards) or a .gguf file.
    /// Quantized GGUF matrices stay packed (integer dot products, as llama.cpp computes them) unless
    /// `dequantize` asks for Float32 copies (the reference path that matches transformers).
    /// `interleave: false` keeps quantized matrices in the GGUF row layout (see init).
    public static func load(path: String, dequantize: Bool = false, interleave: Bool = true) throws -> Model {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw InferenceError.notAModel(path: path, reason: "no such file or folder")
        }
        if isDir.boolValue { return try loadHuggingFace(folder: path) }
        return try loadGGUF(GGUFFile(path: path), dequantize: dequantize, interleave: interleave)
    }

    public static func loadGGUF(_ gguf: GGUFFile, dequantize: Bool = false, interleave: Bool = true) throws -> Model {
        let config = try gguf.modelConfig()
        var lookup = WeightLookup(sources: [gguf], isGGUF: true, config: config, path: gguf.path)
        lookup.keepQuantized = !dequantize
        let weights = try lookup.load()
        let tokenizer = gguf.string("tokenizer.ggml.model") == nil ? nil : try TokenizerLoader.load(gguf: gguf)
        return Model(config: config, weights: weights, path: gguf.path, sources: [gguf], tokenizer: tokenizer, interleave: interleave)
    }

    public static func loadHuggingFace(folder: String) throws -> Model {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw InferenceError.notAModel(path: folder, reason: "not a model folder: config.json is missing")
        }
        let config = try HFConfig.load(path: configPath).resolve(path: configPath)
        let sources = try safetensorsFiles(in: folder).map { try SafetensorsFile(path: $0) as TensorSource }
        let weights = try WeightLookup(sources: sources, isGGUF: false, config: config,
                                       path: sources.count == 1 ? sources[0].path : folder).load()
        let tokenizer = try TokenizerLoader.loadIfPresent(folder: folder)
        return Model(config: config, weights: weights, path: folder, sources: sources, tokenizer: tokenizer)
    }

    /// The weights of a Hugging Face folder laid out as `config` plans them (shapes checked against it),
    /// without the tokenizer (the trainer's parameter store loads through this).
    public static func loadWeights(folder: String, config: ModelConfig) throws -> DecoderWeights {
        let sources = try safetensorsFiles(in: folder).map { try SafetensorsFile(path: $0) as TensorSource }
        return try WeightLookup(sources: sources, isGGUF: false, config: config, path: sources.count == 1 ? sources[0].path : folder).load()
    }

    /// model.safetensors, or the shards listed by model.safetensors.index.json.
    public static func safetensorsFiles(in folder: String) throws -> [String] {
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        let indexPath = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        guard let data = FileManager.default.contents(atPath: indexPath) else {
            throw InferenceError.notAModel(path: folder, reason: "no model.safetensors (or model.safetensors.index.json) in the folder")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw CheckpointError.malformed(path: indexPath, what: "no weight_map")
        }
        return Set(map.values).sorted().map { (folder as NSString).appendingPathComponent($0) }
    }

    /// Bytes of weights read to produce one token (every matrix once).
    public var weightBytes: Int { weights.bytesPerToken }
}
