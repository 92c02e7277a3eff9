// Building a tokenizer from GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's defaults: which
// pre-tokenizer each `tokenizer.ggml.pre` value means, whether BOS is added, which tokens end
// generation, and which tokens are matched inline as whole tokens.
import Foundation
import Checkpoints

enum GGUFVocabulary {
    /// Token names llama.cpp treats as end-of-generation (and as control tokens) wherever they appear.
    static let endOfGenerationNames: Set<String> = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                                    "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>"]

    static func load(_ gguf: GGUFFile) throws -> Tokenizer {
        let path = gguf.file.path
        guard let model = gguf.string("tokenizer.ggml.model") else {
            throw TokenizerError.badVocabulary(path: path, reason: "no tokenizer.ggml.model (the file carries no tokenizer)")
        }
        guard let tokens = gguf.stringArray("tokenizer.ggml.tokens"), !tokens.isEmpty else {
            throw TokenizerError.badVocabulary(path: path, reason: "tokenizer.ggml.tokens is missing or not an array of strings")
        }
        var rawTypes = [Int](repeating: 1, count: tokens.count)
        if gguf.metadata["tokenizer.ggml.token_type"] != nil {
            guard let t = gguf.intArray("tokenizer.ggml.token_type"), t.count == tokens.count else {
                throw TokenizerError.badVocabulary(path: path, reason: "tokenizer.ggml.token_type is not \(tokens.count) integers")
            }
            rawTypes = t
        }
        var types = rawTypes.map { SentencePieceTokenizer.TokenType(rawValue: $0) ?? .normal }
        // llama.cpp promotes end-of-generation tokens to control tokens whatever the file says.
        for (id, t) in tokens.enumerated() where endOfGenerationNames.contains(t) && types[id] == .normal {
            types[id] = .control
        }

        func tokenID(_ key: String) throws -> Int? {
            guard gguf.metadata[key] != nil else { return nil }
            guard let id = gguf.int(key) else { throw TokenizerError.badVocabulary(path: path, reason: "\(key) is not an integer") }
            return id >= 0 && id < tokens.count ? id : nil
        }
        let bos = try tokenID("tokenizer.ggml.bos_token_id")
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        var stops: [Int] = []
        for id in [eos, try tokenID("tokenizer.ggml.eot_token_id"), try tokenID("tokenizer.ggml.eom_token_id")] {
            if let id, !stops.contains(id) { stops.append(id) }
        }
        for (id, t) in tokens.enumerated() where endOfGenerationNames.contains(t) && !stops.contains(id) { stops.append(id) }
        let unknown = try tokenID("tokenizer.ggml.unknown_token_id")

        switch model {
        case "gpt2":
            let pre = gguf.string("tokenizer.ggml.pre")
            let variant = try preTokenizer(pre, path: path)
            guard let merges = gguf.stringArray("tokenizer.ggml.merges") else {
                throw TokenizerError.badVocabulary(path: path, reason: "tokenizer.ggml.merges is missing or not an array of strings")
            }
            var c = ByteLevelBPETokenizer.Configuration(tokens: tokens)
            c.merges = try merges.map { m in
                // "a b": the separator is the first space after the first character.
                guard let space = m.dropFirst().firstIndex(of: " ") else {
                    throw TokenizerError.badVocabulary(path: path, reason: "merge '\(m)' is not two tokens")
                }
                return (String(m[..<space]), String(m[m.index(after: space)...]))
            }
            c.rules = variant.rules
            c.ignoreMerges = variant.ignoreMerges
            for (id, type) in types.enumerated() {
                switch type {
                case .control, .unknown:
                    c.literalIDs.insert(id)
                    c.specialIDs.insert(id)
                    c.inlineTokens.append(InlineToken(content: tokens[id], id: id, isControl: true))
                case .userDefined:
                    c.literalIDs.insert(id)
                    c.inlineTokens.append(InlineToken(content: tokens[id], id: id, isControl: false))
                default:
                    break
                }
            }
            c.bosTokenID = bos
            c.eosTokenIDs = stops
            let addBOS = gguf.bool("tokenizer.ggml.add_bos_token") ?? variant.addsBOS
            let addEOS = gguf.bool("tokenizer.ggml.add_eos_token") ?? false
            if addBOS, let bos { c.prefixIDs = [bos] }
            if addEOS, let eos { c.suffixIDs = [eos] }
            return ByteLevelBPETokenizer(c)

        case "llama":
            var scores = [Float](repeating: 0, count: tokens.count)
            if gguf.metadata["tokenizer.ggml.scores"] != nil {
                guard let s = gguf.floatArray("tokenizer.ggml.scores"), s.count == tokens.count else {
                    throw TokenizerError.badVocabulary(path: path, reason: "tokenizer.ggml.scores is not \(tokens.count) numbers")
                }
                scores = s
            }
            var c = SentencePieceTokenizer.Configuration(
                tokens: tokens, scores: scores, types: types,
                bosTokenID: gguf.metadata["tokenizer.ggml.bos_token_id"] == nil ? (tokens.count > 1 ? 1 : nil) : bos,
                eosTokenIDs: gguf.metadata["tokenizer.ggml.eos_token_id"] == nil && tokens.count > 2 ? [2] + stops : stops,
                unknownID: gguf.metadata["tokenizer.ggml.unknown_token_id"] == nil ? 0 : unknown)
            c.addBOS = gguf.bool("tokenizer.ggml.add_bos_token") ?? true
            c.addEOS = gguf.bool("tokenizer.ggml.add_eos_token") ?? false
            c.addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix") ?? true
            return SentencePieceTokenizer(c)

        default:
            throw TokenizerError.unsupportedModel(path: path, type: model)
        }
    }

    struct PreTokenizerVariant {
        var rules: [PreTokenizerRule]
        var ignoreMerges = false
        var addsBOS = false
    }

    /// The pre-tokenizer llama.cpp's llm_tokenizer_bpe uses for a `tokenizer.ggml.pre` value.
    static func preTokenizer(_ name: String?, path: String) throws -> PreTokenizerVariant {
        switch name {
        case nil, "default":
            // llama.cpp's fallback: punctuation runs, then GPT-2, then digit runs cut into threes.
            let extra = Set("$+<=>^~|".unicodeScalars.map(\.value))
            return PreTokenizerVariant(rules: [.punctuationRuns(extra: extra), .gpt2, .numberRuns, .asciiDigitTriples])
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "jina-v1-en",
             "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion", "exaone4", "a.x-4.0", "mellum",
             "modern-bert", "granite-docling":
            return PreTokenizerVariant(rules: [.gpt2])
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            return PreTokenizerVariant(rules: [.eachNumber, .gpt2])
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2":
            return PreTokenizerVariant(rules: [.llama3(maxDigits: 3)], ignoreMerges: true, addsBOS: true)
        case "dbrx", "smaug-bpe", "glm4", "chatglm-bpe":
            return PreTokenizerVariant(rules: [.llama3(maxDigits: 3)])
        case "qwen2", "deepseek-r1-qwen", "kormo", "stablelm2", "megrez", "hunyuan", "solar-open":
            return PreTokenizerVariant(rules: [.llama3(maxDigits: 1)])
        case "falcon":
            let extra = Set("$+<=>^~|`".unicodeScalars.map(\.value))
            return PreTokenizerVariant(rules: [.punctuationRuns(extra: extra), .gpt2, .asciiDigitTriples])
        case let other?:
            throw TokenizerError.unknownPreTokenizer(path: path, name: other)
        }
    }
}
