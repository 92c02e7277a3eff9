// Finding and loading a tokenizer: a Hugging Face folder (tokenizer.json, else a SentencePiece
// tokenizer.model / spiece.model as transformers' slow tokenizers read it), a .model file, or a GGUF
// file (a full model or a vocabulary-only file) whose `tokenizer.ggml.*` metadata describes it.
import Foundation
import Checkpoints

public enum TokenizerLoader {
    /// A folder in Hugging Face layout holding tokenizer.json or a SentencePiece .model (and
    /// optionally tokenizer_config.json). tokenizer.json wins, as transformers' fast tokenizers prefer it.
    public static func load(folder: String) throws -> Tokenizer {
        let url = URL(fileURLWithPath: folder)
        if !FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenizer.json").path),
           let model = SentencePieceModelLoading.modelFile(in: url) {
            let configPath = url.appendingPathComponent("tokenizer_config.json").path
            let config = try HuggingFaceTokenizerFile.optionalJSONObject(configPath)
            return try SentencePieceModelLoading.load(model: model, config: config, configPath: configPath)
        }
        return try HuggingFaceTokenizerFile.load(folder: folder)
    }

    /// Whether a folder holds a tokenizer `load(folder:)` would read (tokenizer.json or a SentencePiece .model).
    public static func hasTokenizer(folder: String) -> Bool {
        let url = URL(fileURLWithPath: folder)
        return FileManager.default.fileExists(atPath: url.appendingPathComponent("tokenizer.json").path)
            || SentencePieceModelLoading.modelFile(in: url) != nil
    }

    /// The folder's tokenizer, or nil when it has none and no tokenizer_config.json names a tokenizer class.
    /// A class named without the files it reads (transformers' T5Tokenizer: spiece.model, LlamaTokenizer(Fast):
    /// tokenizer.model, PreTrainedTokenizerFast: tokenizer.json) is a one-line error naming them.
    public static func loadIfPresent(folder: String) throws -> Tokenizer? {
        if hasTokenizer(folder: folder) { return try load(folder: folder) }
        let configPath = URL(fileURLWithPath: folder).appendingPathComponent("tokenizer_config.json").path
        guard let name = try HuggingFaceTokenizerFile.optionalJSONObject(configPath)?["tokenizer_class"] as? String else { return nil }
        let reads: String
        switch name.hasSuffix("Fast") ? String(name.dropLast(4)) : name {
        case "T5Tokenizer": reads = "spiece.model (or tokenizer.json)"
        case "LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer": reads = "tokenizer.model (or tokenizer.json)"
        default: reads = "tokenizer.json"
        }
        throw TokenizerError.missingFile(path: configPath, what: "tokenizer_class \(name) reads \(reads), which the folder does not have")
    }

    /// Whether a parsed tokenizer.json is SentencePiece-style (Unigram, or BPE without a ByteLevel step).
    public static func isSentencePieceStyle(_ json: [String: Any]) -> Bool { HuggingFaceSentencePieceFile.isSentencePieceStyle(json) }

    /// The tokenizer described by a GGUF file's metadata.
    public static func load(gguf: GGUFFile) throws -> Tokenizer {
        try GGUFVocabulary.load(gguf)
    }

    /// A folder with tokenizer.json, the tokenizer.json file itself, or a .gguf file.
    public static func load(path: String) throws -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw TokenizerError.missingFile(path: path, what: "no such file or folder")
        }
        if isDirectory.boolValue { return try load(folder: path) }
        let url = URL(fileURLWithPath: path)
        if url.lastPathComponent == "tokenizer.json" { return try load(folder: url.deletingLastPathComponent().path) }
        if url.pathExtension == "model" {
            let configPath = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
            let config = try HuggingFaceTokenizerFile.optionalJSONObject(configPath)
            return try SentencePieceModelLoading.load(model: url, config: config, configPath: configPath)
        }
        if url.pathExtension.lowercased() == "gguf" || hasGGUFMagic(path) {
            let gguf: GGUFFile
            do { gguf = try GGUFFile(path: path) } catch {
                throw TokenizerError.unreadable(path: path, reason: "\(error)")
            }
            return try load(gguf: gguf)
        }
        throw TokenizerError.missingFile(path: path, what: "neither a folder with tokenizer.json or tokenizer.model, nor a .model or .gguf file")
    }

    private static func hasGGUFMagic(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        return handle.readData(ofLength: 4) == Data("GGUF".utf8)
    }
}
