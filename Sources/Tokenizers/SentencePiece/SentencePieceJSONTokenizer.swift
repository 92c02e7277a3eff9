// SentencePiece-style tokenizer.json (Llama, Mistral, Japanese StableLM Beta/Gamma, ELYZA, Swallow):
// a BPE model over characters with "▁" for spaces and <0xNN> byte fallback, or a Unigram model,
// encoded and decoded as Hugging Face tokenizers does: added tokens are matched first, each text
// between them is normalized (Prepend / Replace / NFKC) and pre-tokenized (Metaspace / Split), each
// word is segmented, and decoding runs the decoder chain (Replace, ByteFallback, Fuse, Strip, Metaspace).
import Foundation

public final class SentencePieceJSONTokenizer: Tokenizer, SpacePrefixing, @unchecked Sendable {
    enum PrependScheme: String { case always, first, never }

    enum PreTokenizerStep {
        case metaspace(replacement: String, prepend: PrependScheme, split: Bool)
        case rule(PreTokenizerRule)
        /// WhitespaceSplit (T5's): words between runs of Unicode white space, the space dropped.
        case whitespaceSplit
    }

    enum DecoderStep {
        case replace(pattern: String, content: String)
        case byteFallback
        case fuse
        case strip(content: Unicode.Scalar, start: Int, stop: Int)
        case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme)
    }

    enum Model {
        /// `merges` by rank over ids; `ignoreMerges`: a word in the vocabulary is one token.
        case bpe(merges: BPEMerges, byteFallback: Bool, fuseUnknown: Bool, ignoreMerges: Bool)
        case unigram(UnigramEncoder, byteFallback: Bool)
    }

    struct Configuration {
        var tokens: [String]
        var model: Model
        var unknownID: Int?
        var inlineTokens: [InlineToken] = []
        var specialIDs: Set<Int> = []
        var normalizer: Normalizer? = nil
        var preTokenizer: [PreTokenizerStep] = []
        var decoder: [DecoderStep] = []
        var layout = SpecialTokenLayout()
    }

    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenIDs: [Int]
    public var addsBOS: Bool { bosTokenID.map { prefixIDs.contains($0) } ?? false }
    public let prefixIDs: [Int]
    public let suffixIDs: [Int]
    /// Whether the encoder puts "▁" before the text (Prepend normalizer or Metaspace pre-tokenizer).
    public let addsSpacePrefix: Bool

    private let tokens: [String]
    /// Pieces by their UTF-8 bytes (not by String equality, which merges canonically equivalent pieces).
    private let vocabulary: [[UInt8]: Int]
    private let bytesByID: [[UInt8]]
    private let byteIDs: [Int?]
    private let special: [Bool]
    private let model: Model
    private let unknownID: Int?
    /// Added tokens matched in the raw text, and those marked `normalized`, matched after the normalizer.
    private let rawTokens: InlineTokenMatcher
    private let normalizedTokens: InlineTokenMatcher
    private let normalizer: Normalizer?
    private let preTokenizer: [PreTokenizerStep]
    private let decoder: [DecoderStep]

    init(_ c: Configuration) {
        tokens = c.tokens
        vocabularySize = c.tokens.count
        var vocabulary: [[UInt8]: Int] = [:]
        for (id, t) in c.tokens.enumerated() where !t.isEmpty && vocabulary[Array(t.utf8)] == nil { vocabulary[Array(t.utf8)] = id }
        self.vocabulary = vocabulary
        byteIDs = (0..<256).map { vocabulary[Array(String(format: "<0x%02X>", $0).utf8)] }
        var special = [Bool](repeating: false, count: c.tokens.count)
        for id in c.specialIDs where id < special.count { special[id] = true }
        self.special = special
        bytesByID = c.tokens.enumerated().map { id, t in
            if special[id] { return Array(t.utf8) }
            if let b = SentencePieceTokenizer.byteValue(t) { return [b] }
            return Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
        }
        model = c.model
        unknownID = c.unknownID
        rawTokens = InlineTokenMatcher(c.inlineTokens.filter { !$0.normalized || c.normalizer == nil })
        normalizedTokens = InlineTokenMatcher(c.normalizer == nil ? [] : c.inlineTokens.filter(\.normalized))
        normalizer = c.normalizer
        preTokenizer = c.preTokenizer
        decoder = c.decoder
        prefixIDs = c.layout.prefixIDs
        suffixIDs = c.layout.suffixIDs
        bosTokenID = c.layout.bosTokenID
        eosTokenIDs = c.layout.eosTokenIDs
        addsSpacePrefix = Self.prepends(c.normalizer) || c.preTokenizer.contains {
            if case .metaspace(_, let scheme, _) = $0 { return scheme != .never }
            return false
        }
    }

    private static func prepends(_ n: Normalizer?) -> Bool {
        switch n {
        case .prepend?: return true
        case .sequence(let steps)?: return steps.contains { prepends($0) }
        default: return false
        }
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: true)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefixIDs : []
        var atStart = true  // Metaspace's "first" scheme prepends only to text at offset 0
        for fragment in rawTokens.partition(Substring(text), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                ids.append(id)
            case .text(let raw):
                let normalized = normalizer?.apply(String(raw)) ?? String(raw)
                for inner in normalizedTokens.partition(Substring(normalized), parseSpecial: parseSpecial) {
                    switch inner {
                    case .token(let id): ids.append(id)
                    case .text(let t): for word in words(String(t), atStart: atStart) { encodeWord(word, into: &ids) }
                    }
                    atStart = false
                }
            }
            atStart = false
        }
        if addSpecialTokens { ids.append(contentsOf: suffixIDs) }
        return ids
    }

    private func words(_ text: String, atStart: Bool) -> [String] {
        var words = text.isEmpty ? [] : [text]
        for step in preTokenizer {
            switch step {
            case .metaspace(let replacement, let scheme, let split):
                words = words.flatMap { word -> [String] in
                    var w = replacingBytes(word, " ", replacement)
                    if !hasBytePrefix(w, replacement) && (scheme == .always || (scheme == .first && atStart)) { w = replacement + w }
                    return split ? Self.splitBefore(replacement, w) : [w]
                }
            case .whitespaceSplit:
                words = words.flatMap { word in
                    word.unicodeScalars.split(whereSeparator: \.properties.isWhitespace).map { String(Substring($0)) }
                }
            case .rule(let rule):
                words = words.flatMap { word -> [String] in
                    let scalars = ScalarText(Substring(word))
                    return Tokenizers.preTokenize(scalars, rules: [rule]).map { String(decoding: scalars.bytes($0), as: UTF8.self) }
                }
            }
        }
        return words
    }

    /// Split(replacement, MergedWithNext): each occurrence starts a new word.
    private static func splitBefore(_ marker: String, _ text: String) -> [String] {
        let m = Array(marker.utf8), t = Array(text.utf8)
        var words: [String] = []
        var start = 0
        var i = 0
        while i < t.count {
            if i > start && t[i] == m[0] && i + m.count <= t.count && t[i..<i + m.count].elementsEqual(m) {
                words.append(String(decoding: t[start..<i], as: UTF8.self))
                start = i
            }
            i += 1
        }
        if start < t.count { words.append(String(decoding: t[start...], as: UTF8.self)) }
        return words
    }

    private func encodeWord(_ word: String, into ids: inout [Int]) {
        switch model {
        case .bpe(let merges, let byteFallback, let fuseUnknown, let ignoreMerges):
            if ignoreMerges, let id = vocabulary[Array(word.utf8)] { ids.append(id); return }
            var symbols: [Int32] = []
            var previousWasUnknown = false
            // One symbol per Unicode scalar (not per grapheme cluster), as tokenizers splits words.
            for scalar in word.unicodeScalars {
                let ch = String(scalar)
                if let id = vocabulary[Array(ch.utf8)] {
                    symbols.append(Int32(id)); previousWasUnknown = false; continue
                }
                if byteFallback {
                    let bytes = Array(ch.utf8).map { byteIDs[Int($0)] }
                    if bytes.allSatisfy({ $0 != nil }) {
                        symbols += bytes.map { Int32($0!) }; previousWasUnknown = false; continue
                    }
                }
                guard let unknownID else { continue }
                if !(fuseUnknown && previousWasUnknown) { symbols.append(Int32(unknownID)) }
                previousWasUnknown = true
            }
            merges.apply(&symbols)
            ids.append(contentsOf: symbols.map(Int.init))
        case .unigram(let encoder, let byteFallback):
            let bytes = Array(word.utf8)
            bytes.withUnsafeBufferPointer { buffer in
                var previousWasUnknown = false
                for piece in encoder.encode(buffer) {
                    let isUnknown = piece.id == (unknownID ?? -1)
                    if isUnknown && byteFallback, (piece.start..<piece.end).allSatisfy({ byteIDs[Int(buffer[$0])] != nil }) {
                        for i in piece.start..<piece.end { ids.append(byteIDs[Int(buffer[i])]!) }
                    } else if !(isUnknown && previousWasUnknown), piece.id >= 0 {
                        ids.append(piece.id)  // Hugging Face's Unigram always fuses unknown runs
                    }
                    previousWasUnknown = isUnknown
                }
            }
        }
    }

    // MARK: Decoding and lookup

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var pieces = ids.compactMap { id -> String? in
            guard id >= 0 && id < vocabularySize, !(skipSpecialTokens && special[id]) else { return nil }
            return tokens[id]
        }
        // Without a decoder, tokenizers joins the tokens with spaces.
        if decoder.isEmpty { return pieces.joined(separator: " ") }
        for step in decoder { pieces = Self.apply(step, pieces) }
        return pieces.joined()
    }

    private static func apply(_ step: DecoderStep, _ pieces: [String]) -> [String] {
        switch step {
        case .replace(let pattern, let content):
            return pieces.map { replacingBytes($0, pattern, content) }
        case .fuse:
            return [pieces.joined()]
        case .strip(let content, let start, let stop):
            return pieces.map { piece in
                var chars = Array(piece.unicodeScalars)
                var cut = 0
                while cut < min(start, chars.count) && chars[cut] == content { cut += 1 }
                chars.removeFirst(cut)
                var end = 0
                while end < min(stop, chars.count) && chars[chars.count - 1] == content { chars.removeLast(); end += 1 }
                var s = ""
                s.unicodeScalars.append(contentsOf: chars)
                return s
            }
        case .metaspace(let replacement, let scheme):
            return pieces.enumerated().map { i, piece in
                var s = ""
                for scalar in piece.unicodeScalars {
                    if scalar != replacement { s.unicodeScalars.append(scalar) } else if i != 0 || scheme == .never { s += " " }
                }
                return s
            }
        case .byteFallback:
            var out: [String] = []
            var run: [UInt8] = []
            func flush() {
                if run.isEmpty { return }
                if let s = String(validating: run, as: UTF8.self) { out.append(s) } else { out += Array(repeating: "\u{FFFD}", count: run.count) }
                run.removeAll()
            }
            for piece in pieces {
                if let b = SentencePieceTokenizer.byteValue(piece) { run.append(b) } else { flush(); out.append(piece) }
            }
            flush()
            return out
        }
    }

    public func tokenBytes(_ id: Int) -> [UInt8] { id >= 0 && id < vocabularySize ? bytesByID[id] : [] }

    public func tokenString(_ id: Int) -> String? { id >= 0 && id < vocabularySize ? tokens[id] : nil }

    public func tokenID(_ token: String) -> Int? { vocabulary[Array(token.utf8)] }

    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < vocabularySize && special[id] }
}
