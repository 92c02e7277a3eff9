// Saves trained parameters as a Hugging Face model folder: config.json (HF's keys for the model's
// family), model.safetensors (HF tensor names, F32 or 16-bit), generation_config.json, the
// tokenizer files copied from a source folder, and optionally the optimizer state for resuming.
// Everything is written into a temporary folder beside the destination and renamed into place at
// the end, so an interrupted save leaves the previous checkpoint whole.
import Basics
import Foundation
import Checkpoints
import Kernels

public struct CheckpointWriter {
    /// Files copied from the tokenizer folder when present.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                        "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json", "merges.txt"]

    public var parameters: ParameterStore
    /// Where tokenizer files come from (nil: none are copied).
    public var tokenizerFolder: String?
    /// F32 (default), F16 or BF16 for model.safetensors.
    public var dtype: GGMLType = .f32
    public var padTokenID: Int?
    /// When set, its state goes into the folder as optimizer.safetensors (for resuming).
    public var optimizer: AdamW?

    public static let optimizerFileName = "optimizer.safetensors"
    /// More files for the folder (a trainer's state, say), written with the rest before the rename.
    public var extraFiles: [String: Data] = [:]
    /// Called with each file's name once it is in the staging folder; a throw aborts the write as a
    /// failed disk write would (tests simulate a full disk with it). The previous checkpoint stays.
    public var afterFileWritten: ((String) throws -> Void)?

    public init(parameters: ParameterStore, tokenizerFolder: String? = nil) {
        self.parameters = parameters
        self.tokenizerFolder = tokenizerFolder
    }

    /// Writes the folder at `path`, replacing one that is there.
    public func write(to path: String) throws {
        try StagedFolder.write(to: path) { staging in
            try writeJSON(configJSON(), to: staging.appendingPathComponent("config.json"))
            try writeJSON(generationConfigJSON(), to: staging.appendingPathComponent("generation_config.json"))
            var writer = SafetensorsWriter(path: staging.appendingPathComponent("model.safetensors").path, metadata: ["format": "pt"])
            for t in parameters.tensors {
                try writer.add(t.name, shape: t.shape, borrowing: UnsafeBufferPointer(start: parameters.values + t.offset, count: t.count), as: dtype)
            }
            try writer.write()
            try afterFileWritten?("model.safetensors")
            if let optimizer {
                try optimizer.save(path: staging.appendingPathComponent(Self.optimizerFileName).path)
                try afterFileWritten?(Self.optimizerFileName)
            }
            try writeExtraAndTokenizerFiles(into: staging, path: path)
        }
    }

    /// extraFiles, then the tokenizer folder's files that extraFiles does not replace.
    func writeExtraAndTokenizerFiles(into staging: URL, path: String) throws {
        let fm = FileManager.default
        for (name, data) in extraFiles.sorted(by: { $0.key < $1.key }) {
            do { try data.write(to: staging.appendingPathComponent(name)) } catch {
                throw CheckpointError.cannotWrite(path: staging.appendingPathComponent(name).path, reason: WriteFailure.reason(error))
            }
            try afterFileWritten?(name)
        }
        if let tokenizerFolder {
            // A file given in extraFiles (an edited tokenizer_config.json) wins over the copy.
            for name in Self.tokenizerFiles where extraFiles[name] == nil {
                let source = URL(fileURLWithPath: tokenizerFolder).appendingPathComponent(name)
                guard fm.fileExists(atPath: source.path) else { continue }
                do { try fm.copyItem(at: source, to: staging.appendingPathComponent(name)) } catch {
                    throw CheckpointError.cannotWrite(path: path, reason: "cannot copy \(source.path): \(WriteFailure.reason(error))")
                }
            }
        }
    }

    /// config.json in the family's own keys. StableLM gets both the top-level rope keys (transformers 4)
    /// and `rope_parameters` (transformers 5).
    public func configJSON() throws -> [String: Any] {
        let c = parameters.config
        func number(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }
        let fraction = c.headDim > 0 ? Double(c.rotaryDim) / Double(c.headDim) : 0
        let rope = c.ropeScaling.configParameters.merging(["rope_theta": number(c.ropeTheta), "partial_rotary_factor": fraction]) { a, _ in a }
        var json: [String: Any] = [
            "vocab_size": c.vocabSize, "hidden_size": c.hiddenSize, "intermediate_size": c.intermediateSize,
            "num_hidden_layers": c.numLayers, "num_attention_heads": c.numHeads,
            "max_position_embeddings": c.maxPositions, "tie_word_embeddings": c.tieWordEmbeddings,
            "initializer_range": 0.02, "use_cache": true, "dtype": dtypeName, "torch_dtype": dtypeName,
            "rope_parameters": rope, "attention_dropout": 0.0,
        ]
        if let bos = c.bosTokenID { json["bos_token_id"] = bos }
        if c.eosTokenIDs.count == 1 { json["eos_token_id"] = c.eosTokenIDs[0] } else if !c.eosTokenIDs.isEmpty { json["eos_token_id"] = c.eosTokenIDs }
        if let padTokenID { json["pad_token_id"] = padTokenID }
        switch c.architecture {
        case .stablelm:
            guard c.norm == .layerNorm, c.mlp == .gatedSiLU, !c.outputBias, !c.mlpBias else {
                throw TrainingError.unsupported("a stablelm config.json cannot express this model's switches")
            }
            json["model_type"] = "stablelm"; json["architectures"] = ["StableLmForCausalLM"]
            json["num_key_value_heads"] = c.numKVHeads; json["hidden_act"] = "silu"
            json["layer_norm_eps"] = number(c.normEps)
            json["rope_theta"] = number(c.ropeTheta); json["partial_rotary_factor"] = fraction
            json["use_qkv_bias"] = c.qkvBias; json["qk_layernorm"] = c.qkNorm
            json["use_parallel_residual"] = c.parallelResidual; json["hidden_dropout"] = 0.0
        case .gptNeoX:
            guard c.qkvBias == c.outputBias, c.mlpBias, !c.qkNorm, c.numKVHeads == c.numHeads else {
                throw TrainingError.unsupported("a gpt_neox config.json cannot express this model's switches")
            }
            json["model_type"] = "gpt_neox"; json["architectures"] = ["GPTNeoXForCausalLM"]
            json["hidden_act"] = c.mlp == .geluTanh ? "gelu_new" : "gelu"
            json["layer_norm_eps"] = number(c.normEps)
            json["rotary_pct"] = fraction; json["rotary_emb_base"] = number(c.ropeTheta)
            json["use_parallel_residual"] = c.parallelResidual; json["attention_bias"] = c.qkvBias
            json["hidden_dropout"] = 0.0
        case .llama:
            guard !c.qkNorm, c.mlp == .gatedSiLU, c.rotaryDim == c.headDim else {
                throw TrainingError.unsupported("a llama config.json cannot express this model's switches")
            }
            json["model_type"] = "llama"; json["architectures"] = ["LlamaForCausalLM"]
            if let window = c.slidingWindow {  // Mistral is Llama with a sliding window
                json["model_type"] = "mistral"; json["architectures"] = ["MistralForCausalLM"]; json["sliding_window"] = window
            }
            json["num_key_value_heads"] = c.numKVHeads; json["hidden_act"] = "silu"; json["head_dim"] = c.headDim
            json["rms_norm_eps"] = number(c.normEps); json["rope_theta"] = number(c.ropeTheta)
            json["attention_bias"] = c.qkvBias; json["mlp_bias"] = c.mlpBias
        }
        return json
    }

    public func generationConfigJSON() -> [String: Any] {
        let c = parameters.config
        var json: [String: Any] = [:]
        if let bos = c.bosTokenID { json["bos_token_id"] = bos }
        if c.eosTokenIDs.count == 1 { json["eos_token_id"] = c.eosTokenIDs[0] } else if !c.eosTokenIDs.isEmpty { json["eos_token_id"] = c.eosTokenIDs }
        if let padTokenID { json["pad_token_id"] = padTokenID }
        return json
    }

    private var dtypeName: String { dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32" }

    private func writeJSON(_ object: [String: Any], to url: URL) throws {
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try (data + Data("\n".utf8)).write(to: url)
        } catch {
            throw CheckpointError.cannotWrite(path: url.path, reason: "\(error)")
        }
    }
}
