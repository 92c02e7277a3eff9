// Byte-level BPE (GPT-2, GPT-NeoX, StableLM, SmolLM, Llama 3): inline special tokens are matched
// first, the text between them is normalized and pre-tokenized into words, and each word's UTF-8
// bytes are merged by rank. Built from a Hugging Face tokenizer.json or from GGUF metadata.
import Foundation

public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    /// Everything the tokenizer needs, as read from tokenizer.json or GGUF.
    struct Configuration {
        /// Token strings by id, as stored ("Ġthe"; added tokens as their text; "" for unused ids).
        var tokens: [String]
        /// Ids whose bytes are their text as written (added, control, user-defined tokens) rather than
        /// a byte-level alphabet spelling.
        var literalIDs: Set<Int> = []
        var merges: [(String, String)] = []
        var inlineTokens: [InlineToken] = []
        /// Ids dropped by `decode(skipSpecialTokens: true)`.
        var specialIDs: Set<Int> = []
        var normalizer: Normalizer? = nil
        var rules: [PreTokenizerRule] = [.gpt2]
        /// Hugging Face ByteLevel `add_prefix_space`: a space before text that does not start with one.
        var addPrefixSpace = false
        /// Words that are whole vocabulary entries skip the merges (Llama 3).
        var ignoreMerges = false
        /// Ids put before and after the text by `encode(addSpecialTokens: true)`.
        var prefixIDs: [Int] = []
        var suffixIDs: [Int] = []
        var bosTokenID: Int? = nil
        var eosTokenIDs: [Int] = []
        var unknownID: Int? = nil
    }

    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenIDs: [Int]
    public var addsBOS: Bool { bosTokenID.map { prefixIDs.contains($0) } ?? !prefixIDs.isEmpty }
    /// Ids put before and after the text by `encode(addSpecialTokens: true)`.
    public let prefixIDs: [Int]
    public let suffixIDs: [Int]

    private let tokens: [String]
    private let bytesByID: [[UInt8]]
    private let vocabulary: [String: Int]
    private let merges: BPEMerges
    private let symbolForByte: [Int32]
    private let special: [Bool]
    private let rawTokens: InlineTokenMatcher
    private let normalizedTokens: InlineTokenMatcher
    private let normalizer: Normalizer?
    private let rules: [PreTokenizerRule]
    private let addPrefixSpace: Bool
    private let ignoreMerges: Bool
    private let unknownID: Int?

    /// What it was built from (written back out as tokenizer.json by ByteLevelTokenizerFiles).
    let configuration: Configuration

    private var wordCache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 100_000

    init(_ c: Configuration) {
        configuration = c
        tokens = c.tokens
        vocabularySize = c.tokens.count
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(c.tokens.count)
        for (id, t) in c.tokens.enumerated() where !t.isEmpty { vocabulary[t] = id }
        self.vocabulary = vocabulary
        bytesByID = c.tokens.enumerated().map { id, t in
            c.literalIDs.contains(id) ? Array(t.utf8) : (ByteLevelAlphabet.decode(t) ?? Array(t.utf8))
        }
        // Byte-level symbols come from the vocabulary proper: a literal token that happens to be
        // spelled like a byte (e.g. a control token "!") must not stand for it.
        var byteLevelVocabulary = vocabulary
        for id in c.literalIDs where id < c.tokens.count && byteLevelVocabulary[c.tokens[id]] == id {
            byteLevelVocabulary[c.tokens[id]] = nil
        }
        merges = BPEMerges(c.merges, vocabulary: byteLevelVocabulary)
        symbolForByte = (0..<256).map { b in
            Int32(byteLevelVocabulary[String(ByteLevelAlphabet.scalarForByte[b])] ?? -1)
        }
        var special = [Bool](repeating: false, count: c.tokens.count)
        for id in c.specialIDs where id < special.count { special[id] = true }
        self.special = special
        let needsTwoPasses = c.normalizer != nil
        rawTokens = InlineTokenMatcher(c.inlineTokens.filter { !needsTwoPasses || !$0.normalized })
        normalizedTokens = InlineTokenMatcher(needsTwoPasses ? c.inlineTokens.filter(\.normalized) : [])
        normalizer = c.normalizer
        rules = c.rules
        addPrefixSpace = c.addPrefixSpace
        ignoreMerges = c.ignoreMerges
        prefixIDs = c.prefixIDs
        suffixIDs = c.suffixIDs
        bosTokenID = c.bosTokenID
        eosTokenIDs = c.eosTokenIDs
        unknownID = c.unknownID
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: true)
    }

    /// `parseSpecial: false` leaves control tokens written in the text to BPE (llama.cpp's
    /// `parse_special = false`); user-defined added tokens are still matched.
    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefixIDs : []
        ids.reserveCapacity(text.utf8.count / 3 + 4)
        for fragment in rawTokens.partition(Substring(text), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                guard let normalizer else { encodeText(raw, into: &ids); continue }
                let normalized = normalizer.apply(String(raw))
                for inner in normalizedTokens.partition(Substring(normalized), parseSpecial: parseSpecial) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let t): encodeText(t, into: &ids)
                    }
                }
            }
        }
        if addSpecialTokens { ids.append(contentsOf: suffixIDs) }
        return ids
    }

    private func encodeText(_ piece: Substring, into ids: inout [Int]) {
        let text = ScalarText(addPrefixSpace && !piece.hasPrefix(" ") ? Substring(" " + piece) : piece)
        for word in preTokenize(text, rules: rules) {
            encodeWord(text.bytes(word), into: &ids)
        }
    }

    private func encodeWord(_ bytes: ArraySlice<UInt8>, into ids: inout [Int]) {
        if bytes.count == 1 {
            let s = symbolForByte[Int(bytes.first!)]
            if s >= 0 { ids.append(Int(s)) } else if let unknownID { ids.append(unknownID) }
            return
        }
        let key = String(decoding: bytes, as: UTF8.self)
        cacheLock.lock()
        let cached = wordCache[key]
        cacheLock.unlock()
        let symbols = cached ?? mergeWord(bytes, key: key)
        for s in symbols {
            if s >= 0 { ids.append(Int(s)) } else if let unknownID { ids.append(unknownID) }
        }
    }

    private func mergeWord(_ bytes: ArraySlice<UInt8>, key: String) -> [Int32] {
        var symbols: [Int32]
        if ignoreMerges, let id = vocabulary[ByteLevelAlphabet.encode(bytes)], !special[id] {
            symbols = [Int32(id)]
        } else {
            symbols = bytes.map { symbolForByte[Int($0)] }
            merges.apply(&symbols)
        }
        cacheLock.lock()
        if wordCache.count >= Self.cacheLimit { wordCache.removeAll(keepingCapacity: true) }
        wordCache[key] = symbols
        cacheLock.unlock()
        return symbols
    }

    // MARK: Decoding and lookup

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && id < vocabularySize {
            if skipSpecialTokens && special[id] { continue }
            bytes.append(contentsOf: bytesByID[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func tokenBytes(_ id: Int) -> [UInt8] {
        id >= 0 && id < vocabularySize ? bytesByID[id] : []
    }

    public func tokenString(_ id: Int) -> String? {
        id >= 0 && id < vocabularySize ? tokens[id] : nil
    }

    public func tokenID(_ token: String) -> Int? { vocabulary[token] }

    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < vocabularySize && special[id] }

    /// Number of merge rules in use.
    public var mergeCount: Int { merges.count }
}
