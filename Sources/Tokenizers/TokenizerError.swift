// Errors raised while loading a tokenizer: each names the file and says what is wrong, on one line.
import Foundation

public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A folder without tokenizer.json (or a path that is neither a folder nor a .gguf file).
    case missingFile(path: String, what: String)
    /// The file exists but could not be read.
    case unreadable(path: String, reason: String)
    /// tokenizer.json / tokenizer_config.json is not valid JSON or lacks a required field.
    case malformedJSON(path: String, reason: String)
    /// The tokenizer model type (tokenizer.json `model.type`, GGUF `tokenizer.ggml.model`) is not one hayai implements.
    case unsupportedModel(path: String, type: String)
    /// A normalizer, pre-tokenizer, post-processor or decoder hayai does not implement.
    case unsupportedComponent(path: String, what: String)
    /// GGUF `tokenizer.ggml.pre` names a pre-tokenizer variant hayai does not know.
    case unknownPreTokenizer(path: String, name: String)
    /// A SentencePiece .model file whose protobuf is truncated or corrupt, or whose pieces are inconsistent.
    case malformedModel(path: String, reason: String)
    /// GGUF tokenizer arrays that are missing, of the wrong type, or of inconsistent lengths.
    case badVocabulary(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path, let what): return "\(path): \(what)"
        case .unreadable(let path, let reason): return "\(path): cannot read tokenizer file: \(reason)"
        case .malformedJSON(let path, let reason): return "\(path): malformed tokenizer JSON: \(reason)"
        case .unsupportedModel(let path, let type): return "\(path): unsupported tokenizer model type '\(type)' (hayai reads byte-level BPE, SentencePiece unigram and BPE, and SentencePiece-style 'llama')"
        case .unsupportedComponent(let path, let what): return "\(path): unsupported tokenizer component: \(what)"
        case .unknownPreTokenizer(let path, let name): return "\(path): unknown pre-tokenizer variant tokenizer.ggml.pre = '\(name)'"
        case .badVocabulary(let path, let reason): return "\(path): bad tokenizer vocabulary: \(reason)"
        case .malformedModel(let path, let reason): return "\(path): malformed SentencePiece model: \(reason)"
        }
    }
}
