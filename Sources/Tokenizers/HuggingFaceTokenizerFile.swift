// Reading a Hugging Face tokenizer.json (byte-level BPE here; SentencePiece-style files go to
// HuggingFaceSentencePieceFile) and, beside it, tokenizer_config.json and generation_config.json for
// the BOS/EOS choices the tokenizer.json alone does not record.
import Foundation

enum HuggingFaceTokenizerFile {
    /// Chat and document end markers that stop generation when the vocabulary has them.
    static let endOfGenerationNames = ["<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end|>", "<end_of_turn>",
                                       "<|end_of_text|>", "<|eom_id|>"]

    static func load(folder: String) throws -> Tokenizer {
        let folderURL = URL(fileURLWithPath: folder)
        let path = folderURL.appendingPathComponent("tokenizer.json").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw TokenizerError.missingFile(path: folder, what: "no tokenizer.json (nor tokenizer.model / spiece.model) in this folder")
        }
        let json = try readJSONObject(path)
        let config = try optionalJSONObject(folderURL.appendingPathComponent("tokenizer_config.json").path)
        let generation = try optionalJSONObject(folderURL.appendingPathComponent("generation_config.json").path)
        if HuggingFaceSentencePieceFile.isSentencePieceStyle(json) {
            return SentencePieceJSONTokenizer(try HuggingFaceSentencePieceFile.configuration(json, config: config, generation: generation, path: path))
        }
        return ByteLevelBPETokenizer(try configuration(json, config: config, generation: generation, path: path))
    }

    /// The most token ids a vocabulary may span (the largest real ones hold about 262,000): tables are
    /// sized by the largest id, so an id at or above this is refused before anything is allocated from it.
    public static let vocabularyLimit = 1 << 21

    /// A token id from the file: a JSON integer (not 0.5, not `false`) in 0..<vocabularyLimit.
    static func tokenID(_ value: Any?, _ what: @autoclosure () -> String, path: String) throws -> Int {
        guard let id = jsonInt(value), id >= 0 else {
            let shown = value.map { "\($0)" } ?? "nothing"
            throw TokenizerError.malformedJSON(path: path, reason: "\(what()) has id \(shown.prefix(40)), not a non-negative integer")
        }
        guard id < vocabularyLimit else {
            throw TokenizerError.malformedJSON(path: path, reason: "\(what()) has id \(id), beyond the vocabulary limit of \(vocabularyLimit) ids (HuggingFaceTokenizerFile.vocabularyLimit)")
        }
        return id
    }

    static func readJSONObject(_ path: String) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TokenizerError.unreadable(path: path, reason: error.localizedDescription)
        }
        let object: Any
        do { object = try AnyJSON.object(from: data) } catch {
            throw TokenizerError.malformedJSON(path: path, reason: "not valid JSON (\(data.count) bytes)")
        }
        guard let dict = object as? [String: Any] else {
            throw TokenizerError.malformedJSON(path: path, reason: "the top level is not an object")
        }
        return dict
    }

    static func optionalJSONObject(_ path: String) throws -> [String: Any]? {
        FileManager.default.fileExists(atPath: path) ? try readJSONObject(path) : nil
    }

    static func configuration(_ json: [String: Any], config: [String: Any]?, generation: [String: Any]?,
                              path: String) throws -> ByteLevelBPETokenizer.Configuration {
        guard let model = json["model"] as? [String: Any] else {
            throw TokenizerError.malformedJSON(path: path, reason: "no 'model' object")
        }
        let modelType = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "?")
        guard modelType == "BPE" else { throw TokenizerError.unsupportedModel(path: path, type: modelType) }
        guard let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError.malformedJSON(path: path, reason: "BPE model without a 'vocab' object")
        }

        // Vocabulary and added tokens by id.
        var byID: [Int: String] = [:]
        for (token, value) in vocab {
            byID[try tokenID(value, "vocab entry '\(token)'", path: path)] = token
        }
        var c = ByteLevelBPETokenizer.Configuration(tokens: [])
        for (token, isSpecial) in try addedTokens(json, path: path) {
            byID[token.id] = token.content
            c.literalIDs.insert(token.id)
            if isSpecial { c.specialIDs.insert(token.id) }
            c.inlineTokens.append(token)
        }
        let size = (byID.keys.max() ?? -1) + 1
        c.tokens = (0..<size).map { byID[$0] ?? "" }

        // Merges: "a b" strings (older files) or ["a", "b"] pairs.
        let rawMerges = model["merges"] as? [Any] ?? []
        c.merges.reserveCapacity(rawMerges.count)
        for m in rawMerges {
            if let s = m as? String {
                guard let space = s.dropFirst().firstIndex(of: " ") else {
                    throw TokenizerError.malformedJSON(path: path, reason: "merge '\(s)' is not two tokens")
                }
                c.merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else if let pair = m as? [String], pair.count == 2 {
                c.merges.append((pair[0], pair[1]))
            } else {
                throw TokenizerError.malformedJSON(path: path, reason: "a merge is neither \"a b\" nor [a, b]")
            }
        }
        c.ignoreMerges = model["ignore_merges"] as? Bool ?? false
        if let unk = model["unk_token"] as? String, let id = jsonInt(vocab[unk]) { c.unknownID = id }

        if let n = json["normalizer"] as? [String: Any] { c.normalizer = try Normalizer.parse(n, path: path) }

        var sawByteLevel = false
        c.rules = []
        if let pre = json["pre_tokenizer"] as? [String: Any] {
            try parsePreTokenizer(pre, into: &c, sawByteLevel: &sawByteLevel, path: path)
        }
        let decoderType = (json["decoder"] as? [String: Any])?["type"] as? String
        let decoderIsByteLevel = decoderType == "ByteLevel"
            || ((json["decoder"] as? [String: Any])?["decoders"] as? [[String: Any]])?.contains { $0["type"] as? String == "ByteLevel" } == true
        guard sawByteLevel || decoderIsByteLevel else {
            throw TokenizerError.unsupportedComponent(path: path, what: "BPE without a ByteLevel pre-tokenizer or decoder (SentencePiece-style tokenizer.json)")
        }

        let tokenIDs = Dictionary(c.tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { _, last in last })
        var layout = SpecialTokenLayout(specialIDs: c.specialIDs)
        if let post = json["post_processor"] as? [String: Any] {
            try parsePostProcessor(post, into: &layout, tokenIDs: tokenIDs, path: path)
        }
        applyConfig(config, generation: generation, to: &layout, tokenIDs: tokenIDs)
        c.prefixIDs = layout.prefixIDs
        c.suffixIDs = layout.suffixIDs
        c.bosTokenID = layout.bosTokenID
        c.eosTokenIDs = layout.eosTokenIDs
        return c
    }

    /// tokenizer.json `added_tokens`: each as an inline token, and whether it is special.
    static func addedTokens(_ json: [String: Any], path: String) throws -> [(InlineToken, Bool)] {
        try (json["added_tokens"] as? [[String: Any]] ?? []).map { entry in
            guard entry["id"] != nil, let content = entry["content"] as? String else {
                throw TokenizerError.malformedJSON(path: path, reason: "added token without 'id' and 'content'")
            }
            let id = try tokenID(entry["id"], "added token '\(content)'", path: path)
            let isSpecial = entry["special"] as? Bool ?? false
            return (InlineToken(
                content: content, id: id, isControl: isSpecial,
                lstrip: entry["lstrip"] as? Bool ?? false, rstrip: entry["rstrip"] as? Bool ?? false,
                singleWord: entry["single_word"] as? Bool ?? false,
                normalized: entry["normalized"] as? Bool ?? !isSpecial), isSpecial)
        }
    }

    private static func parsePreTokenizer(_ json: [String: Any], into c: inout ByteLevelBPETokenizer.Configuration,
                                          sawByteLevel: inout Bool, path: String) throws {
        let type = json["type"] as? String ?? "?"
        switch type {
        case "ByteLevel":
            sawByteLevel = true
            if json["add_prefix_space"] as? Bool == true { c.addPrefixSpace = true }
            if json["use_regex"] as? Bool ?? true { c.rules.append(.gpt2) }
        case "Sequence":
            for p in json["pretokenizers"] as? [[String: Any]] ?? [] {
                try parsePreTokenizer(p, into: &c, sawByteLevel: &sawByteLevel, path: path)
            }
        case "Split":
            c.rules.append(try splitRule(json, path: path))
        case "Digits":
            c.rules.append(json["individual_digits"] as? Bool == true ? .eachNumber : .numberRuns)
        default:
            throw TokenizerError.unsupportedComponent(path: path, what: "pre-tokenizer '\(type)'")
        }
    }

    /// A `Split` pre-tokenizer as a rule.
    static func splitRule(_ json: [String: Any], path: String) throws -> PreTokenizerRule {
        let patternObject = json["pattern"] as? [String: Any] ?? [:]
        let behaviorName = json["behavior"] as? String ?? "Isolated"
        guard let behavior = SplitBehavior(rawValue: behaviorName) else {
            throw TokenizerError.unsupportedComponent(path: path, what: "Split behavior '\(behaviorName)'")
        }
        let invert = json["invert"] as? Bool ?? false
        let pattern: String
        if let regex = patternObject["Regex"] as? String { pattern = regex }
        else if let literal = patternObject["String"] as? String { pattern = NSRegularExpression.escapedPattern(for: literal) }
        else { throw TokenizerError.malformedJSON(path: path, reason: "Split pre-tokenizer without a pattern") }
        do { return try PreTokenizerRule.forPattern(pattern, behavior: behavior, invert: invert) } catch {
            throw TokenizerError.unsupportedComponent(path: path, what: "Split regex that NSRegularExpression rejects: \(pattern)")
        }
    }

    static func parsePostProcessor(_ json: [String: Any], into c: inout SpecialTokenLayout,
                                           tokenIDs: [String: Int], path: String) throws {
        let type = json["type"] as? String ?? "?"
        switch type {
        case "ByteLevel":
            break
        case "Sequence":
            for p in json["processors"] as? [[String: Any]] ?? [] {
                try parsePostProcessor(p, into: &c, tokenIDs: tokenIDs, path: path)
            }
        case "TemplateProcessing":
            let specials = json["special_tokens"] as? [String: [String: Any]] ?? [:]
            var beforeSequence = true
            for item in json["single"] as? [[String: Any]] ?? [] {
                if item["Sequence"] != nil { beforeSequence = false; continue }
                guard let name = (item["SpecialToken"] as? [String: Any])?["id"] as? String else { continue }
                let ids = (specials[name]?["ids"] as? [Any])?.compactMap(jsonInt) ?? tokenIDs[name].map { [$0] } ?? []
                if beforeSequence { c.prefixIDs += ids } else { c.suffixIDs += ids }
            }
        case "RobertaProcessing", "BertProcessing":
            if let cls = json["cls"] as? [Any], let id = jsonInt(cls.last) { c.prefixIDs.append(id) }
            if let sep = json["sep"] as? [Any], let id = jsonInt(sep.last) { c.suffixIDs.append(id) }
        default:
            throw TokenizerError.unsupportedComponent(path: path, what: "post-processor '\(type)'")
        }
    }

    /// tokenizer_config.json names the BOS/EOS tokens and may switch adding BOS/EOS on or off;
    /// generation_config.json may list further ids that end generation.
    static func applyConfig(_ config: [String: Any]?, generation: [String: Any]?,
                            to c: inout SpecialTokenLayout, tokenIDs: [String: Int]) {
        func tokenName(_ value: Any?) -> String? {
            if let s = value as? String { return s }
            return (value as? [String: Any])?["content"] as? String
        }
        let bos = tokenName(config?["bos_token"]).flatMap { tokenIDs[$0] }
        let eos = tokenName(config?["eos_token"]).flatMap { tokenIDs[$0] }
        c.bosTokenID = bos ?? c.prefixIDs.first
        if let bos, let add = config?["add_bos_token"] as? Bool {
            c.prefixIDs.removeAll { $0 == bos }
            if add { c.prefixIDs.insert(bos, at: 0) }
        }
        if let eos, let add = config?["add_eos_token"] as? Bool {
            c.suffixIDs.removeAll { $0 == eos }
            if add { c.suffixIDs.append(eos) }
        }
        var stops: [Int] = []
        if let eos { stops.append(eos) }
        if let g = generation?["eos_token_id"] {
            if let n = jsonInt(g) { stops.append(n) }
            if let list = g as? [Any] { stops += list.compactMap(jsonInt) }
        }
        for name in endOfGenerationNames {
            if let id = tokenIDs[name], c.specialIDs.contains(id) { stops.append(id) }
        }
        var seen = Set<Int>()
        c.eosTokenIDs = stops.filter { seen.insert($0).inserted }
    }
}

/// The ids a tokenizer puts around the text and the ones that name BOS/EOS, from the post-processor
/// and tokenizer_config.json.
struct SpecialTokenLayout {
    var prefixIDs: [Int] = []
    var suffixIDs: [Int] = []
    var bosTokenID: Int? = nil
    var eosTokenIDs: [Int] = []
    /// Added tokens marked special (those that may end generation).
    var specialIDs: Set<Int> = []
}

/// An integer from decoded JSON (Int, or an NSNumber depending on the platform): only a whole number;
/// 1.5 or `false` is not one (NSNumber's intValue would truncate them to 1 and 0).
func jsonInt(_ value: Any?) -> Int? {
    guard let value, !(value is Bool) else { return nil }
    if let i = value as? Int { return i }
    if let n = value as? NSNumber { return Int(exactly: n.doubleValue) }
    return nil
}
