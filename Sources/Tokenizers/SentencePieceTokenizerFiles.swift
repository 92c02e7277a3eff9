// A SentencePiece vocabulary from GGUF metadata (`tokenizer.ggml.model == "llama"`) written back out as a
// Hugging Face tokenizer folder, the way transformers' LlamaConverter writes Llama's (legacy) file: a BPE
// model with byte fallback whose merges are every split of a piece into two pieces, ordered by the
// merged piece's score (SentencePieceExtractor), so merging the lowest-ranked pair first is llama.cpp's
// "highest-scoring adjacent pair first"; a Prepend("▁") + Replace(" ", "▁") normalizer for the space
// prefix (applied to each stretch of text between added tokens, as llama.cpp prefixes the text after
// every special token); the control and unknown tokens as special added tokens, user-defined ones as
// plain added tokens; BOS/EOS as a TemplateProcessing post-processor when the GGUF adds them.
// Hugging Face `tokenizers` and hayai's TokenizerLoader read it back to the GGUF's ids.
import Foundation

enum SentencePieceTokenizerFiles {
    /// tokenizer.json and tokenizer_config.json for a SentencePiece tokenizer built from GGUF metadata, else nil.
    static func files(for tokenizer: Tokenizer, chatTemplate: String?, modelMaxLength: Int) -> [String: Data]? {
        guard let spm = tokenizer as? SentencePieceTokenizer else { return nil }
        let c = spm.configuration
        let name = { (id: Int) in c.tokens[id] }
        let config = GGUFTokenizerFiles.tokenizerConfigJSON(
            bos: c.bosTokenID.map(name), eos: c.eosTokenIDs.first.map(name), unk: c.unknownID.map(name),
            addBOS: spm.addsBOS, addEOS: spm.addsEOS, chatTemplate: chatTemplate, modelMaxLength: modelMaxLength)
        return ["tokenizer.json": Data(tokenizerJSON(spm).utf8), "tokenizer_config.json": Data(config.utf8)]
    }

    static func tokenizerJSON(_ spm: SentencePieceTokenizer) -> String {
        let c = spm.configuration
        let q = TokenizerJSONWriter.quote
        let added = c.types.enumerated().filter { [.control, .unknown, .userDefined].contains($0.element) }.map { id, type in
            "    {\"id\": \(id), \"content\": \(q(c.tokens[id])), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                + "\"normalized\": false, \"special\": \(type != .userDefined)}"
        }
        let spaceToMeta = "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\u{2581}\"}"
        let normalizer = spm.addsSpacePrefix
            ? "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\u{2581}\"}, \(spaceToMeta)]}" : spaceToMeta
        var decoders = ["{\"type\": \"Replace\", \"pattern\": {\"String\": \"\u{2581}\"}, \"content\": \" \"}",
                        "{\"type\": \"ByteFallback\"}", "{\"type\": \"Fuse\"}"]
        if spm.addsSpacePrefix { decoders.append("{\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}") }
        let prefix = spm.addsBOS ? c.bosTokenID.map { [($0, c.tokens[$0])] } ?? [] : []
        let suffix = spm.addsEOS ? c.eosTokenIDs.first.map { [($0, c.tokens[$0])] } ?? [] : []
        // A name held by several ids maps to the last, as the GGUF tokenizer's lookup does; by bytes, since
        // Swift's String equality would merge canonically equivalent pieces ("Å" and "\u{212B}").
        var vocabulary: [[UInt8]: Int] = [:]
        for (id, t) in c.tokens.enumerated() where !t.isEmpty { vocabulary[Array(t.utf8)] = id }

        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n"
        s += added.joined(separator: ",\n") + "\n  ],\n"
        s += "  \"normalizer\": \(normalizer),\n"
        s += "  \"pre_tokenizer\": null,\n"
        s += "  \"post_processor\": \(prefix.isEmpty && suffix.isEmpty ? "null" : GGUFTokenizerFiles.templateProcessingJSON(prefix: prefix, suffix: suffix)),\n"
        s += "  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [\(decoders.joined(separator: ", "))]},\n"
        s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": \(c.unknownID.map { q(c.tokens[$0]) } ?? "null"),\n"
        s += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": true,\n"
        s += "    \"byte_fallback\": \(vocabulary[Array("<0x00>".utf8)] != nil),\n    \"ignore_merges\": false,\n    \"vocab\": {\n"
        s += c.tokens.enumerated().filter { !$0.element.isEmpty && vocabulary[Array($0.element.utf8)] == $0.offset }
            .map { id, t in "      \(q(t)): \(id)" }.joined(separator: ",\n")
        s += "\n    },\n    \"merges\": [\n"
        s += merges(tokens: c.tokens, scores: c.scores, vocabulary: vocabulary).map { "      [\(q($0.0)), \(q($0.1))]" }.joined(separator: ",\n")
        s += "\n    ]\n  }\n}\n"
        return s
    }

    /// transformers' SentencePieceExtractor: for each piece (in id order), every split into two pieces of
    /// the vocabulary, by the ids of the left then the right part; then all of them by the merged piece's
    /// score, highest first, keeping that order among equal scores.
    static func merges(tokens: [String], scores: [Float], vocabulary: [[UInt8]: Int]) -> [(String, String)] {
        var found: [(left: String, right: String, score: Float)] = []
        for (id, piece) in tokens.enumerated() {
            let scalars = Array(piece.unicodeScalars)
            guard scalars.count > 1 else { continue }
            var local: [(left: String, right: String, l: Int, r: Int)] = []
            for k in 1..<scalars.count {
                var left = String.UnicodeScalarView(), right = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<k])
                right.append(contentsOf: scalars[k...])
                let l = String(left), r = String(right)
                if let li = vocabulary[Array(l.utf8)], let ri = vocabulary[Array(r.utf8)] { local.append((l, r, li, ri)) }
            }
            local.sort { ($0.l, $0.r) < ($1.l, $1.r) }
            found += local.map { ($0.left, $0.right, scores[id]) }
        }
        let order = found.indices.sorted { found[$0].score != found[$1].score ? found[$0].score > found[$1].score : $0 < $1 }
        return order.map { (found[$0].left, found[$0].right) }
    }
}
