// SentencePiece-style tokenizer from GGUF `tokenizer.ggml.model == "llama"`, as llama.cpp's
// llm_tokenizer_spm does it: a space is put before the text, spaces become "▁", adjacent pieces are
// merged while the merged piece is in the vocabulary (highest score first), and characters with no
// piece fall back to byte tokens <0xAB>.
import Foundation

public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    /// GGUF token types.
    enum TokenType: Int { case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6 }

    struct Configuration {
        var tokens: [String]
        var scores: [Float]
        var types: [TokenType]
        var bosTokenID: Int?
        var eosTokenIDs: [Int]
        var unknownID: Int?
        var addBOS = true
        var addEOS = false
        var addSpacePrefix = true
    }

    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenIDs: [Int]
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Whether encoding puts a space before the text (and decoding takes it off again).
    public let addsSpacePrefix: Bool
    /// What it was built from (written back out as tokenizer.json by SentencePieceTokenizerFiles).
    let configuration: Configuration

    private let tokens: [String]
    private let scores: [Float]
    private let types: [TokenType]
    /// Keyed by UTF-8 bytes, not String: Swift compares strings by canonical equivalence, so "e\u{301}" would
    /// find the piece "é" (and "\u{212B}" the piece "Å"), where llama.cpp looks pieces up byte for byte.
    private let vocabulary: [[UInt8]: Int]
    private let bytesByID: [[UInt8]]
    private let byteTokenIDs: [Int?]
    private let inlineTokens: InlineTokenMatcher
    private let unknownID: Int?
    /// True when no piece has "▁" after another character (Llama's vocabulary): then no merge crosses
    /// the start of a word, so words can be encoded one by one and cached.
    private let splitsAtWordStarts: Bool
    private var wordCache: [[UInt8]: [Int]] = [:]
    private let cacheLock = NSLock()

    init(_ c: Configuration) {
        configuration = c
        tokens = c.tokens
        scores = c.scores
        types = c.types
        vocabularySize = c.tokens.count
        bosTokenID = c.bosTokenID
        eosTokenIDs = c.eosTokenIDs
        unknownID = c.unknownID
        addsBOS = c.addBOS && c.bosTokenID != nil
        addsEOS = c.addEOS && !c.eosTokenIDs.isEmpty
        addsSpacePrefix = c.addSpacePrefix
        var vocabulary: [[UInt8]: Int] = [:]
        vocabulary.reserveCapacity(c.tokens.count)
        for (id, t) in c.tokens.enumerated() { vocabulary[Array(t.utf8)] = id }
        self.vocabulary = vocabulary
        bytesByID = zip(c.tokens, c.types).map { token, type in
            switch type {
            case .normal: return Array(token.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .byte: return Self.byteValue(token).map { [$0] } ?? Array(token.utf8)
            case .unused: return []
            case .unknown, .control, .userDefined: return Array(token.utf8)
            }
        }
        byteTokenIDs = (0..<256).map { b in
            vocabulary[Array(String(format: "<0x%02X>", b).utf8)] ?? (b < 0x80 ? vocabulary[[UInt8(b)]] : nil)
        }
        var inline: [InlineToken] = []
        for (id, type) in c.types.enumerated() where type == .control || type == .userDefined || type == .unknown {
            inline.append(InlineToken(content: c.tokens[id], id: id, isControl: type != .userDefined))
        }
        inlineTokens = InlineTokenMatcher(inline)
        splitsAtWordStarts = !c.tokens.contains { token in
            var previous: Character? = nil
            for ch in token {
                if ch == "\u{2581}", let p = previous, p != "\u{2581}" { return true }
                previous = ch
            }
            return false
        }
    }

    static func byteValue(_ token: String) -> UInt8? {
        guard token.utf8.count == 6, token.hasPrefix("<0x"), token.hasSuffix(">") else { return nil }
        return UInt8(token.dropFirst(3).prefix(2), radix: 16)
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: true)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var ids: [Int] = []
        if addSpecialTokens && addsBOS, let bos = bosTokenID { ids.append(bos) }
        var previousWasToken = true  // the text's first fragment gets the space prefix, as after a special token
        for fragment in inlineTokens.partition(Substring(text), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                ids.append(id)
                previousWasToken = true
            case .text(let t):
                let spaced = addsSpacePrefix && previousWasToken ? " " + t : String(t)
                encodeText(Array(spaced.replacingOccurrences(of: " ", with: "\u{2581}").utf8), into: &ids)
                previousWasToken = false
            }
        }
        if addSpecialTokens && addsEOS, let eos = eosTokenIDs.first { ids.append(eos) }
        return ids
    }

    /// Encodes escaped text ("▁" for spaces), a word at a time when the vocabulary allows it.
    private func encodeText(_ bytes: [UInt8], into ids: inout [Int]) {
        guard splitsAtWordStarts else { return encodePieces(bytes[...], into: &ids) }
        // A word starts at a "▁" (E2 96 81) that does not follow another "▁".
        var start = 0
        var i = 3
        while i + 2 < bytes.count {
            if bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81
                && !(bytes[i - 3] == 0xE2 && bytes[i - 2] == 0x96 && bytes[i - 1] == 0x81) {
                encodeWord(bytes[start..<i], into: &ids)
                start = i
                i += 3
            } else {
                i += 1
            }
        }
        encodeWord(bytes[start...], into: &ids)
    }

    private func encodeWord(_ bytes: ArraySlice<UInt8>, into ids: inout [Int]) {
        let key = Array(bytes)
        cacheLock.lock()
        let cached = wordCache[key]
        cacheLock.unlock()
        if let cached { ids.append(contentsOf: cached); return }
        var word: [Int] = []
        encodePieces(bytes, into: &word)
        ids.append(contentsOf: word)
        cacheLock.lock()
        if wordCache.count >= 100_000 { wordCache.removeAll(keepingCapacity: true) }
        wordCache[key] = word
        cacheLock.unlock()
    }

    private struct Symbol { var start: Int; var count: Int; var previous: Int; var next: Int }
    private struct Bigram { var left: Int; var right: Int; var score: Float; var size: Int }

    /// Highest score first; on equal scores the leftmost pair.
    private static func comesFirst(_ a: Bigram, _ b: Bigram) -> Bool {
        a.score > b.score || (a.score == b.score && a.left < b.left)
    }

    private func encodePieces(_ text: ArraySlice<UInt8>, into ids: inout [Int]) {
        if text.isEmpty { return }
        let bytes = Array(text)
        // One symbol per UTF-8 character.
        var symbols: [Symbol] = []
        var offset = 0
        while offset < bytes.count {
            let width = min(Self.utf8Width(bytes[offset]), bytes.count - offset)
            symbols.append(Symbol(start: offset, count: width, previous: symbols.count - 1, next: -1))
            offset += width
            if offset < bytes.count { symbols[symbols.count - 1].next = symbols.count }
        }
        var queue = BinaryHeap<Bigram>(by: Self.comesFirst)
        func addBigram(_ left: Int, _ right: Int) {
            if left < 0 || right < 0 { return }
            let start = symbols[left].start, size = symbols[left].count + symbols[right].count
            guard let id = vocabulary[Array(bytes[start..<start + size])] else { return }
            queue.push(Bigram(left: left, right: right, score: scores[id], size: size))
        }
        for i in 1..<max(symbols.count, 1) { addBigram(i - 1, i) }
        while let bigram = queue.pop() {
            let left = symbols[bigram.left], right = symbols[bigram.right]
            if left.count == 0 || right.count == 0 || left.count + right.count != bigram.size { continue }
            symbols[bigram.left].count += right.count
            symbols[bigram.right].count = 0
            symbols[bigram.left].next = right.next
            if right.next >= 0 { symbols[right.next].previous = bigram.left }
            addBigram(symbols[bigram.left].previous, bigram.left)
            addBigram(bigram.left, symbols[bigram.left].next)
        }
        var i = 0
        while i != -1 {
            let s = symbols[i]
            let piece = bytes[s.start..<s.start + s.count]
            if let id = vocabulary[Array(piece)] {
                ids.append(id)
            } else {
                for b in piece {
                    if let id = byteTokenIDs[Int(b)] ?? unknownID { ids.append(id) }
                }
            }
            i = s.next
        }
    }

    private static func utf8Width(_ lead: UInt8) -> Int {
        switch lead >> 4 { case 0xC, 0xD: return 2; case 0xE: return 3; case 0xF: return 4; default: return 1 }
    }

    // MARK: Decoding and lookup

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var bytes: [UInt8] = []
        var stripSpace = addsSpacePrefix
        for id in ids where id >= 0 && id < vocabularySize {
            if skipSpecialTokens && isSpecial(id) { continue }
            var piece = bytesByID[id][...]
            if stripSpace && piece.first == 0x20 { piece = piece.dropFirst() }
            if !piece.isEmpty || types[id] != .unused { stripSpace = false }
            bytes.append(contentsOf: piece)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func tokenBytes(_ id: Int) -> [UInt8] { id >= 0 && id < vocabularySize ? bytesByID[id] : [] }

    public func tokenString(_ id: Int) -> String? { id >= 0 && id < vocabularySize ? tokens[id] : nil }

    public func tokenID(_ token: String) -> Int? { vocabulary[Array(token.utf8)] }

    public func isSpecial(_ id: Int) -> Bool {
        guard id >= 0 && id < vocabularySize else { return false }
        return types[id] == .control || types[id] == .unknown
    }
}
