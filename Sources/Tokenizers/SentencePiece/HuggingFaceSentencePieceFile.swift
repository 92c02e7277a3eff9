// Reading a SentencePiece-style tokenizer.json: a BPE model with no ByteLevel step (characters, "▁"
// for spaces, byte fallback) or a Unigram model, with the normalizers, pre-tokenizers and decoders
// such files use. A component hayai does not implement is an error naming it, never skipped.
import Foundation

enum HuggingFaceSentencePieceFile {
    /// Unigram, or BPE without a ByteLevel pre-tokenizer or decoder.
    static func isSentencePieceStyle(_ json: [String: Any]) -> Bool {
        guard let model = json["model"] as? [String: Any] else { return false }
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        if type == "Unigram" { return true }
        guard type == "BPE" else { return false }
        func mentionsByteLevel(_ component: Any?) -> Bool {
            guard let c = component as? [String: Any] else { return false }
            if c["type"] as? String == "ByteLevel" { return true }
            let children = (c["pretokenizers"] ?? c["decoders"]) as? [Any] ?? []
            return children.contains(where: mentionsByteLevel)
        }
        return !mentionsByteLevel(json["pre_tokenizer"]) && !mentionsByteLevel(json["decoder"])
    }

    static func configuration(_ json: [String: Any], config: [String: Any]?, generation: [String: Any]?,
                              path: String) throws -> SentencePieceJSONTokenizer.Configuration {
        let model = json["model"] as? [String: Any] ?? [:]
        let type = model["type"] as? String ?? "BPE"
        var byID: [Int: String] = [:]
        var scores: [Int: Float] = [:]
        var unknownID: Int? = nil

        switch type {
        case "BPE":
            for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let s = model[key] as? String, !s.isEmpty {
                    throw TokenizerError.unsupportedComponent(path: path, what: "BPE \(key) '\(s)'")
                }
            }
            if let dropout = jsonFloat(model["dropout"]), dropout > 0 {
                throw TokenizerError.unsupportedComponent(path: path, what: "BPE dropout \(dropout)")
            }
            guard let vocab = model["vocab"] as? [String: Any] else {
                throw TokenizerError.malformedJSON(path: path, reason: "BPE model without a 'vocab' object")
            }
            for (token, value) in vocabularyMembers(path: path) ?? Array(vocab) {
                byID[try HuggingFaceTokenizerFile.tokenID(value, "vocab entry '\(token)'", path: path)] = token
            }
            if let unk = model["unk_token"] as? String {
                guard let id = jsonInt(vocab[unk]) else {
                    throw TokenizerError.malformedJSON(path: path, reason: "unk_token '\(unk)' is not in the vocabulary")
                }
                unknownID = id
            }
        case "Unigram":
            let vocab = try unigramPieces(model, path: path)
            for (id, entry) in vocab.enumerated() {
                byID[id] = entry.piece
                scores[id] = entry.score
            }
            if let unk = jsonInt(model["unk_id"]) {
                guard unk >= 0 && unk < vocab.count else {
                    throw TokenizerError.malformedJSON(path: path, reason: "unk_id \(unk) is outside the vocabulary")
                }
                unknownID = unk
            }
        default:
            throw TokenizerError.unsupportedModel(path: path, type: type)
        }

        var specialIDs = Set<Int>()
        var inline: [InlineToken] = []
        for (token, isSpecial) in try HuggingFaceTokenizerFile.addedTokens(json, path: path) {
            byID[token.id] = token.content
            if isSpecial { specialIDs.insert(token.id) }
            inline.append(token)
        }
        let size = (byID.keys.max() ?? -1) + 1
        let tokens = (0..<size).map { byID[$0] ?? "" }
        let byteFallback = model["byte_fallback"] as? Bool ?? false

        let segmentation: SentencePieceJSONTokenizer.Model
        if type == "BPE" {
            let vocabulary = Dictionary(tokens.enumerated().filter { !$0.element.isEmpty }.map { (Array($1.utf8), $0) },
                                        uniquingKeysWith: { a, _ in a })
            segmentation = .bpe(merges: BPEMerges(try merges(model, path: path)) { vocabulary[Array($0.utf8)] }, byteFallback: byteFallback,
                                fuseUnknown: model["fuse_unk"] as? Bool ?? false, ignoreMerges: model["ignore_merges"] as? Bool ?? false)
        } else {
            // Added tokens are matched before the model runs, so the lattice holds the vocabulary as normal pieces.
            let pieces = (0..<size).map { id in
                SentencePieceModelFile.Piece(text: tokens[id], score: scores[id] ?? 0,
                                             type: scores[id] == nil || id == unknownID || tokens[id].isEmpty ? .unused : .normal)
            }
            let lowest = scores.values.min() ?? 0
            segmentation = .unigram(UnigramEncoder(pieces: pieces, unknownID: unknownID ?? -1, arithmetic: .huggingFace, minScore: lowest),
                                    byteFallback: byteFallback)
        }

        var c = SentencePieceJSONTokenizer.Configuration(tokens: tokens, model: segmentation, unknownID: unknownID)
        c.inlineTokens = inline
        c.specialIDs = specialIDs
        if let n = json["normalizer"] as? [String: Any] { c.normalizer = try Normalizer.parse(n, path: path) }
        if let p = json["pre_tokenizer"] as? [String: Any] { c.preTokenizer = try preTokenizer(p, path: path) }
        if let d = json["decoder"] as? [String: Any] { c.decoder = try decoder(d, path: path) }
        let tokenIDs = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { _, last in last })
        c.layout = SpecialTokenLayout(specialIDs: specialIDs)
        if let post = json["post_processor"] as? [String: Any] {
            try HuggingFaceTokenizerFile.parsePostProcessor(post, into: &c.layout, tokenIDs: tokenIDs, path: path)
        }
        HuggingFaceTokenizerFile.applyConfig(config, generation: generation, to: &c.layout, tokenIDs: tokenIDs)
        return c
    }

    /// The BPE vocabulary of the tokenizer.json at `path` member by member, or nil when it cannot be read so:
    /// a String-keyed dictionary keeps one of two canonically equivalent pieces (Llama's "ά" U+1F71 and
    /// U+03AC, both in its vocabulary with their own ids), and the other id would never be produced.
    static func vocabularyMembers(path: String) -> [(String, Any)]? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONObjectMembers.read($0, path: ["model", "vocab"]) }
    }

    /// A Unigram model's vocabulary: [piece, score] entries in id order.
    static func unigramPieces(_ model: [String: Any], path: String) throws -> [(piece: String, score: Float)] {
        guard let vocab = model["vocab"] as? [[Any]] else {
            throw TokenizerError.malformedJSON(path: path, reason: "Unigram model without a 'vocab' list of [piece, score]")
        }
        return try vocab.enumerated().map { id, entry in
            guard entry.count == 2, let piece = entry[0] as? String, let score = jsonFloat(entry[1]) else {
                throw TokenizerError.malformedJSON(path: path, reason: "Unigram vocab entry \(id) is not [piece, score]")
            }
            return (piece, score)
        }
    }

    /// The BPE merges as pairs, "a b" strings or [a, b] lists.
    static func merges(_ model: [String: Any], path: String) throws -> [(String, String)] {
        try (model["merges"] as? [Any] ?? []).map { m in
            if let s = m as? String {
                // Older files: "a b"; a SentencePiece piece never holds a plain space ("▁" stands for it).
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.malformedJSON(path: path, reason: "merge '\(s)' is not two tokens") }
                return (String(parts[0]), String(parts[1]))
            }
            if let pair = m as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            throw TokenizerError.malformedJSON(path: path, reason: "a merge is neither \"a b\" nor [a, b]")
        }
    }

    private static func prependScheme(_ json: [String: Any], path: String) throws -> SentencePieceJSONTokenizer.PrependScheme {
        if let name = json["prepend_scheme"] as? String {
            guard let scheme = SentencePieceJSONTokenizer.PrependScheme(rawValue: name) else {
                throw TokenizerError.unsupportedComponent(path: path, what: "Metaspace prepend_scheme '\(name)'")
            }
            return scheme
        }
        // Files from tokenizers < 0.14 say add_prefix_space instead.
        return json["add_prefix_space"] as? Bool ?? true ? .always : .never
    }

    private static func replacement(_ json: [String: Any], path: String) throws -> String {
        let r = json["replacement"] as? String ?? "\u{2581}"
        guard r.unicodeScalars.count == 1 else { throw TokenizerError.malformedJSON(path: path, reason: "Metaspace replacement '\(r)' is not one character") }
        return r
    }

    static func preTokenizer(_ json: [String: Any], path: String) throws -> [SentencePieceJSONTokenizer.PreTokenizerStep] {
        let type = json["type"] as? String ?? "?"
        switch type {
        case "Metaspace":
            return [.metaspace(replacement: try replacement(json, path: path), prepend: try prependScheme(json, path: path),
                               split: json["split"] as? Bool ?? true)]
        case "Split":
            return [.rule(try HuggingFaceTokenizerFile.splitRule(json, path: path))]
        case "WhitespaceSplit":
            return [.whitespaceSplit]
        case "Digits":
            return [.rule(json["individual_digits"] as? Bool == true ? .eachNumber : .numberRuns)]
        case "Sequence":
            return try (json["pretokenizers"] as? [[String: Any]] ?? []).flatMap { try preTokenizer($0, path: path) }
        default:
            throw TokenizerError.unsupportedComponent(path: path, what: "pre-tokenizer '\(type)'")
        }
    }

    static func decoder(_ json: [String: Any], path: String) throws -> [SentencePieceJSONTokenizer.DecoderStep] {
        let type = json["type"] as? String ?? "?"
        switch type {
        case "Replace":
            guard let pattern = (json["pattern"] as? [String: Any])?["String"] as? String, let content = json["content"] as? String else {
                throw TokenizerError.unsupportedComponent(path: path, what: "Replace decoder with a regex pattern")
            }
            return [.replace(pattern: pattern, content: content)]
        case "ByteFallback": return [.byteFallback]
        case "Fuse": return [.fuse]
        case "Strip":
            guard let content = (json["content"] as? String).flatMap({ $0.unicodeScalars.count == 1 ? $0.unicodeScalars.first : nil }) else {
                throw TokenizerError.malformedJSON(path: path, reason: "Strip decoder without a one-character 'content'")
            }
            return [.strip(content: content, start: jsonInt(json["start"]) ?? 0, stop: jsonInt(json["stop"]) ?? 0)]
        case "Metaspace":
            return [.metaspace(replacement: try replacement(json, path: path).unicodeScalars.first!, prepend: try prependScheme(json, path: path))]
        case "Sequence":
            return try (json["decoders"] as? [[String: Any]] ?? []).flatMap { try decoder($0, path: path) }
        default:
            throw TokenizerError.unsupportedComponent(path: path, what: "decoder '\(type)'")
        }
    }
}
