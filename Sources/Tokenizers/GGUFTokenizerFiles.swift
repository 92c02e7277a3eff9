// A tokenizer read from GGUF metadata written back out as a Hugging Face tokenizer folder, so a model
// trained from a GGUF is saved as a normal checkpoint: byte-level BPE (`gpt2`) by ByteLevelTokenizerFiles,
// SentencePiece (`llama`) by SentencePieceTokenizerFiles. Here: the choice, and the parts both share
// (the TemplateProcessing post-processor that adds BOS/EOS, tokenizer_config.json).
import Foundation

public enum GGUFTokenizerFiles {
    /// tokenizer.json and tokenizer_config.json for `tokenizer`, or nil when it is neither kind built from
    /// GGUF metadata (a tokenizer read from tokenizer.json is copied as its file instead).
    public static func files(for tokenizer: Tokenizer, chatTemplate: String?, modelMaxLength: Int) -> [String: Data]? {
        ByteLevelTokenizerFiles.files(for: tokenizer, chatTemplate: chatTemplate, modelMaxLength: modelMaxLength)
            ?? SentencePieceTokenizerFiles.files(for: tokenizer, chatTemplate: chatTemplate, modelMaxLength: modelMaxLength)
    }

    /// A TemplateProcessing post-processor: `prefix` tokens, the text, `suffix` tokens (id, token text).
    static func templateProcessingJSON(prefix: [(Int, String)], suffix: [(Int, String)]) -> String {
        let q = TokenizerJSONWriter.quote
        func special(_ token: (Int, String)) -> String { "{\"SpecialToken\": {\"id\": \(q(token.1)), \"type_id\": 0}}" }
        let single = prefix.map(special) + ["{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}"] + suffix.map(special)
        var seen = Set<Int>()
        let specials = (prefix + suffix).filter { seen.insert($0.0).inserted }.sorted { $0.0 < $1.0 }
            .map { "\(q($0.1)): {\"id\": \(q($0.1)), \"ids\": [\($0.0)], \"tokens\": [\(q($0.1))]}" }
        return "{\"type\": \"TemplateProcessing\", \"single\": [\(single.joined(separator: ", "))], \"pair\": [\(single.joined(separator: ", "))], "
            + "\"special_tokens\": {\(specials.joined(separator: ", "))}}"
    }

    /// tokenizer_config.json: the special tokens by name, whether BOS/EOS are added, the chat template.
    static func tokenizerConfigJSON(bos: String?, eos: String?, unk: String?, addBOS: Bool, addEOS: Bool,
                                    chatTemplate: String?, modelMaxLength: Int) -> String {
        var object: [String: Any] = [
            "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": false, "model_max_length": modelMaxLength,
            "add_bos_token": addBOS, "add_eos_token": addEOS,
        ]
        if let bos { object["bos_token"] = bos }
        if let eos { object["eos_token"] = eos }
        if let unk { object["unk_token"] = unk }
        if let chatTemplate { object["chat_template"] = chatTemplate }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
