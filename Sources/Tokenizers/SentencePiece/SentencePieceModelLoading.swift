// Which .model file a folder holds and what transformers' tokenizer class adds around it:
// T5Tokenizer (rinna's GPT-NeoX models) appends </s>, LlamaTokenizer prepends <s>, and
// tokenizer_config.json's add_bos_token / add_eos_token override either; LlamaTokenizer's `legacy`
// decides whether text after a special token gets the dummy prefix.
import Foundation

enum SentencePieceModelLoading {
    /// The names transformers' SentencePiece tokenizers look for, in that order.
    static let fileNames = ["tokenizer.model", "spiece.model", "sentencepiece.bpe.model"]

    static func modelFile(in folder: URL) -> URL? {
        fileNames.map { folder.appendingPathComponent($0) }.first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The options tokenizer_config.json (when there is one) asks for.
    static func options(config: [String: Any]?, configPath: String) throws -> SentencePieceModelTokenizer.SpecialTokenOptions {
        var options = SentencePieceModelTokenizer.SpecialTokenOptions()
        let tokenizerClass = (config?["tokenizer_class"] as? String).map { $0.hasSuffix("Fast") ? String($0.dropLast(4)) : $0 }
        switch tokenizerClass {
        case nil:
            break
        case "T5Tokenizer":
            if let extra = jsonInt(config?["extra_ids"]), extra > 0 {
                throw TokenizerError.unsupportedComponent(path: configPath, what: "T5Tokenizer with extra_ids = \(extra) (sentinel tokens beyond the .model)")
            }
            options.addEOS = true
        case "LlamaTokenizer", "CodeLlamaTokenizer", "GemmaTokenizer":
            options.addBOS = true
        case let other?:
            throw TokenizerError.unsupportedComponent(path: configPath, what: "tokenizer_class '\(other)' over a SentencePiece .model (hayai knows T5Tokenizer and LlamaTokenizer)")
        }
        // Options of transformers' slow tokenizers that change the ids and that hayai does not implement.
        if config?["do_lower_case"] as? Bool == true {
            throw TokenizerError.unsupportedComponent(path: configPath, what: "do_lower_case = true over a SentencePiece .model")
        }
        // transformers 5's LlamaTokenizer reads the .model's pieces into a Metaspace pre-tokenizer: no dummy
        // prefix before text that starts with a space, and with legacy = false (its default; prepend_scheme
        // "first") none after a special token written in the text. Its T5Tokenizer ignores the flag
        // (WhitespaceSplit + Metaspace "always": every word gets its "▁", as sentencepiece does).
        if tokenizerClass == "LlamaTokenizer" || tokenizerClass == "CodeLlamaTokenizer" || tokenizerClass == "GemmaTokenizer" {
            options.dummyPrefixOnlyAtStart = !(config?["legacy"] as? Bool ?? false)
            options.noDummyPrefixBeforeSpace = true
        }
        if let add = config?["add_bos_token"] as? Bool { options.addBOS = add }
        if let add = config?["add_eos_token"] as? Bool { options.addEOS = add }
        return options
    }

    static func load(model: URL, config: [String: Any]?, configPath: String) throws -> SentencePieceModelTokenizer {
        try SentencePieceModelTokenizer(path: model.path, options: try options(config: config, configPath: configPath))
    }
}
