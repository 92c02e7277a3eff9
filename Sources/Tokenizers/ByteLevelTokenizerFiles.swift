// A byte-level BPE tokenizer written back out as a Hugging Face tokenizer folder: tokenizer.json
// (vocab and merges, the pre-tokenizer rules as Split/Digits/ByteLevel steps, added tokens with
// their special flag, BOS as a TemplateProcessing prefix when it is added) and tokenizer_config.json
// (token names, add_bos_token, the chat template). Used when a model whose vocabulary lives in a
// GGUF file is saved as a Hugging Face checkpoint; TokenizerLoader reads the result back to the same ids.
import Foundation

public enum ByteLevelTokenizerFiles {
    /// tokenizer.json and tokenizer_config.json for `tokenizer`, or nil when it is not a byte-level BPE
    /// built from GGUF metadata (a SentencePiece vocabulary is not written here; a tokenizer read from
    /// tokenizer.json, which may carry any normalizer, is copied as its file instead).
    public static func files(for tokenizer: Tokenizer, chatTemplate: String?, modelMaxLength: Int) -> [String: Data]? {
        guard let bpe = tokenizer as? ByteLevelBPETokenizer, bpe.configuration.normalizer == nil else { return nil }
        let c = bpe.configuration
        return ["tokenizer.json": Data(tokenizerJSON(c).utf8),
                "tokenizer_config.json": Data(tokenizerConfigJSON(c, chatTemplate: chatTemplate, modelMaxLength: modelMaxLength).utf8)]
    }

    static func tokenizerJSON(_ c: ByteLevelBPETokenizer.Configuration) -> String {
        let q = TokenizerJSONWriter.quote
        let added = c.inlineTokens.sorted { $0.id < $1.id }.map { t in
            "    {\"id\": \(t.id), \"content\": \(q(t.content)), \"single_word\": \(t.singleWord), \"lstrip\": \(t.lstrip), "
                + "\"rstrip\": \(t.rstrip), \"normalized\": \(t.normalized), \"special\": \(c.specialIDs.contains(t.id))}"
        }
        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n"
        s += added.joined(separator: ",\n") + "\n  ],\n"
        s += "  \"normalizer\": null,\n"
        s += "  \"pre_tokenizer\": \(preTokenizerJSON(c)),\n"
        if c.prefixIDs.isEmpty && c.suffixIDs.isEmpty {
            s += "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": true},\n"
        } else {
            s += "  \"post_processor\": \(templateJSON(c)),\n"
        }
        s += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
        s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": \(c.unknownID.map { q(c.tokens[$0]) } ?? "null"),\n"
        s += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
        s += "    \"byte_fallback\": false,\n    \"ignore_merges\": \(c.ignoreMerges),\n    \"vocab\": {\n"
        s += c.tokens.enumerated().filter { !$0.element.isEmpty }.map { id, t in "      \(q(t)): \(id)" }.joined(separator: ",\n")
        s += "\n    },\n    \"merges\": [\n"
        s += c.merges.map { "      [\(q($0.0)), \(q($0.1))]" }.joined(separator: ",\n")
        s += "\n    ]\n  }\n}\n"
        return s
    }

    /// The rules in order; GPT-2's regex is ByteLevel's own when it comes last, else a Split, and a
    /// final ByteLevel without its regex maps bytes to the alphabet.
    static func preTokenizerJSON(_ c: ByteLevelBPETokenizer.Configuration) -> String {
        let q = TokenizerJSONWriter.quote
        func split(_ pattern: String) -> String {
            "{\"type\": \"Split\", \"pattern\": {\"Regex\": \(q(pattern))}, \"behavior\": \"Isolated\", \"invert\": false}"
        }
        var steps: [String] = []
        var byteLevelRegex = false
        for (i, rule) in c.rules.enumerated() {
            switch rule {
            case .gpt2 where i == c.rules.count - 1: byteLevelRegex = true
            case .gpt2: steps.append(split(PreTokenizerRule.gpt2Pattern))
            case .llama3(let maxDigits):
                let digits = maxDigits == 1 ? "\\p{N}" : "\\p{N}{1,\(maxDigits)}"
                steps.append(split("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\(digits)| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"))
            case .punctuationRuns(let extra):
                let escaped = extra.sorted().compactMap(Unicode.Scalar.init).map { NSRegularExpression.escapedPattern(for: String($0)) }.joined()
                steps.append(split("[\\p{P}\(escaped)]+"))
            case .numberRuns: steps.append("{\"type\": \"Digits\", \"individual_digits\": false}")
            case .eachNumber: steps.append("{\"type\": \"Digits\", \"individual_digits\": true}")
            case .asciiDigitTriples: steps.append(split("[0-9][0-9][0-9]"))
            case .regex(let regex, let behavior, let invert):
                steps.append("{\"type\": \"Split\", \"pattern\": {\"Regex\": \(q(regex.pattern))}, \"behavior\": \"\(behavior.rawValue)\", \"invert\": \(invert)}")
            }
        }
        steps.append("{\"type\": \"ByteLevel\", \"add_prefix_space\": \(c.addPrefixSpace), \"trim_offsets\": true, \"use_regex\": \(byteLevelRegex)}")
        return steps.count == 1 ? steps[0] : "{\"type\": \"Sequence\", \"pretokenizers\": [\(steps.joined(separator: ", "))]}"
    }

    static func templateJSON(_ c: ByteLevelBPETokenizer.Configuration) -> String {
        GGUFTokenizerFiles.templateProcessingJSON(prefix: c.prefixIDs.map { ($0, c.tokens[$0]) }, suffix: c.suffixIDs.map { ($0, c.tokens[$0]) })
    }

    static func tokenizerConfigJSON(_ c: ByteLevelBPETokenizer.Configuration, chatTemplate: String?, modelMaxLength: Int) -> String {
        GGUFTokenizerFiles.tokenizerConfigJSON(bos: c.bosTokenID.map { c.tokens[$0] }, eos: c.eosTokenIDs.first.map { c.tokens[$0] },
                                               unk: c.unknownID.map { c.tokens[$0] },
                                               addBOS: c.bosTokenID.map { c.prefixIDs.contains($0) } ?? false,
                                               addEOS: c.eosTokenIDs.first.map { c.suffixIDs.contains($0) } ?? false,
                                               chatTemplate: chatTemplate, modelMaxLength: modelMaxLength)
    }
}
