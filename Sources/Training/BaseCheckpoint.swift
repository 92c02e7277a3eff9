// A checkpoint to train from: any Hugging Face folder or GGUF file hayai runs. Its weights become a
// ParameterStore in Hugging Face layout (ParameterStore.load(base:)); its tokenizer files go into what
// training writes: copied from a folder, or written from a GGUF's vocabulary (byte-level BPE or
// SentencePiece; a GGUF has no tokenizer.json), so the output is always a normal Hugging Face folder.
import Foundation
import Checkpoints
import Inference
import Tokenizers

public struct BaseCheckpoint {
    public let path: String
    /// The folder to copy tokenizer files from, for a Hugging Face base.
    public let tokenizerFolder: String?
    /// tokenizer.json and tokenizer_config.json written from a GGUF vocabulary.
    public let generatedTokenizerFiles: [String: Data]
    /// The base's tokenizer_config.json as an object (empty when it has none).
    public let tokenizerConfig: [String: Any]

    public var isFolder: Bool { tokenizerFolder != nil }

    /// Checks that the base can be written back with a tokenizer before any training starts.
    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TrainingError.badData("\(path): no such file or folder")
        }
        if isDirectory.boolValue {
            tokenizerFolder = path
            generatedTokenizerFiles = [:]
            let configPath = (path as NSString).appendingPathComponent("tokenizer_config.json")
            if let data = FileManager.default.contents(atPath: configPath),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                tokenizerConfig = object
            } else {
                tokenizerConfig = [:]
            }
            return
        }
        let gguf = try GGUFFile(path: path)
        let tokenizer = try TokenizerLoader.load(gguf: gguf)
        let context = (try? gguf.modelConfig().maxPositions) ?? 2048
        guard let files = GGUFTokenizerFiles.files(for: tokenizer, chatTemplate: gguf.string("tokenizer.chat_template"),
                                                   modelMaxLength: context) else {
            throw TrainingError.unsupported("\(path): its vocabulary (\(gguf.string("tokenizer.ggml.model") ?? "?")) is neither byte-level BPE "
                                            + "nor SentencePiece, so no tokenizer.json can be written for the trained model")
        }
        tokenizerFolder = nil
        generatedTokenizerFiles = ["tokenizer.json": files["tokenizer.json"]!]
        tokenizerConfig = (try? JSONSerialization.jsonObject(with: files["tokenizer_config.json"]!) as? [String: Any]) ?? [:]
    }

    /// The base's config (without loading its weights).
    public func modelConfig() throws -> ModelConfig {
        if isFolder {
            let configPath = (path as NSString).appendingPathComponent("config.json")
            return try HFConfig.load(path: configPath).resolve(path: configPath)
        }
        return try GGUFFile(path: path).modelConfig()
    }

    /// The base's tokenizer.
    public func tokenizer() throws -> Tokenizer { try TokenizerLoader.load(path: path) }

    /// The base's weights as Float32 parameters in Hugging Face layout.
    public func parameters() throws -> ParameterStore { try ParameterStore.load(base: path) }

    /// A writer for `parameters` carrying the base's tokenizer files, with `tokenizerConfig` as tokenizer_config.json.
    public func writer(for parameters: ParameterStore, tokenizerConfig: [String: Any]) throws -> CheckpointWriter {
        var writer = CheckpointWriter(parameters: parameters, tokenizerFolder: tokenizerFolder)
        for (name, data) in generatedTokenizerFiles { writer.extraFiles[name] = data }
        writer.extraFiles["tokenizer_config.json"] = try JSONSerialization.data(withJSONObject: tokenizerConfig,
                                                                                 options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return writer
    }
}

extension LoRASettings {
    /// Settings from the command line, checked against the base (targets it has, a rank that fits).
    public static func parse(rank: Int, alpha: Double?, dropout: Double = 0, targets: String, base: BaseCheckpoint) throws -> LoRASettings {
        let plan = DecoderPlan(config: try base.modelConfig())
        let settings = LoRASettings(rank: rank, alpha: alpha ?? Double(2 * rank), targets: try LoRASettings.targets(targets, plan: plan),
                                    dropout: dropout)
        try settings.check(plan: plan)
        return settings
    }
}
