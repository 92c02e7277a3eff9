// A tokenizer from a SentencePiece `.model` file (tokenizer.model, spiece.model), encoding and
// decoding as the sentencepiece library's EncodeAsIds / DecodeIds do: normalize, segment (unigram or
// BPE), unknown pieces to <0xNN> byte pieces under byte_fallback (else consecutive unknowns as one
// <unk>). Control pieces written in the text (<s>, </s>) are matched as single tokens first, as
// transformers' slow tokenizers do, unless parseSpecial is false.
import Foundation

public final class SentencePieceModelTokenizer: Tokenizer, SpacePrefixing, @unchecked Sendable {
    typealias PieceType = SentencePieceModelFile.PieceType

    /// What encode(addSpecialTokens: true) adds; the .model itself only names the ids.
    public struct SpecialTokenOptions: Sendable {
        public var addBOS = false
        public var addEOS = false
        /// transformers' LlamaTokenizer with legacy = false: the dummy prefix goes only before text at the
        /// start of the input, not before text that follows a special token written in it.
        public var dummyPrefixOnlyAtStart = false
        /// transformers' LlamaTokenizer (a Metaspace pre-tokenizer over the .model's pieces): no dummy
        /// prefix before text that already starts with a space.
        public var noDummyPrefixBeforeSpace = false
        public init(addBOS: Bool = false, addEOS: Bool = false, dummyPrefixOnlyAtStart: Bool = false, noDummyPrefixBeforeSpace: Bool = false) {
            self.addBOS = addBOS; self.addEOS = addEOS; self.dummyPrefixOnlyAtStart = dummyPrefixOnlyAtStart
            self.noDummyPrefixBeforeSpace = noDummyPrefixBeforeSpace
        }
    }

    private enum Segmenter {
        case unigram(UnigramEncoder)
        case bpe(SentencePieceBPEEncoder)
    }

    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenIDs: [Int]
    public let addsBOS: Bool
    public let addsEOS: Bool
    public let addsSpacePrefix: Bool
    public let unknownTokenID: Int?
    public let padTokenID: Int?

    private let pieces: [String]
    private let types: [PieceType]
    private let bytesByID: [[UInt8]]
    private let byteIDs: [Int]?
    private let normalizer: SentencePieceNormalizer
    private let denormalizer: SentencePieceNormalizer?
    private let segmenter: Segmenter
    private let inlineTokens: InlineTokenMatcher
    private let removesExtraWhitespaces: Bool
    private let dummyPrefixOnlyAtStart: Bool
    private let noDummyPrefixBeforeSpace: Bool
    private let vocabulary: [[UInt8]: Int]

    /// Reads a .model file.
    public convenience init(path: String, options: SpecialTokenOptions = .init()) throws {
        try self.init(try SentencePieceModelFile.read(path: path), path: path, options: options)
    }

    init(_ model: SentencePieceModelFile, path: String, options: SpecialTokenOptions) throws {
        let n = model.pieces.count
        vocabularySize = n
        pieces = model.pieces.map(\.text)
        types = model.pieces.map(\.type)
        func validID(_ id: Int) -> Int? { id >= 0 && id < n ? id : nil }
        bosTokenID = validID(model.bosID)
        eosTokenIDs = validID(model.eosID).map { [$0] } ?? []
        padTokenID = validID(model.padID)
        unknownTokenID = model.pieces.firstIndex { $0.type == .unknown }  // validated: one, or byte fallback
        addsBOS = options.addBOS && bosTokenID != nil
        addsEOS = options.addEOS && !eosTokenIDs.isEmpty
        addsSpacePrefix = model.normalizer.addDummyPrefix
        removesExtraWhitespaces = model.normalizer.removeExtraWhitespaces
        dummyPrefixOnlyAtStart = options.dummyPrefixOnlyAtStart
        noDummyPrefixBeforeSpace = options.noDummyPrefixBeforeSpace

        let unknownSurface = Array(model.unknownSurface.utf8)
        bytesByID = model.pieces.map { p in
            switch p.type {
            case .normal, .userDefined, .unused: return Array(p.text.replacingOccurrences(of: "\u{2581}", with: " ").utf8)
            case .byte: return [SentencePieceTokenizer.byteValue(p.text)!]  // validated
            case .unknown: return unknownSurface
            case .control: return Array(p.text.utf8)
            }
        }
        var vocabulary: [[UInt8]: Int] = [:]
        for (id, p) in model.pieces.enumerated() where vocabulary[Array(p.text.utf8)] == nil { vocabulary[Array(p.text.utf8)] = id }
        self.vocabulary = vocabulary
        if model.byteFallback {
            var ids = [Int](repeating: 0, count: 256)
            for (id, p) in model.pieces.enumerated() where p.type == .byte { ids[Int(SentencePieceTokenizer.byteValue(p.text)!)] = id }
            byteIDs = ids
        } else {
            byteIDs = nil
        }

        let userDefined = ByteTrie(model.pieces.enumerated().filter { $0.element.type == .userDefined }.map { ($0.element.text, $0.offset) })
        do {
            normalizer = try SentencePieceNormalizer(model.normalizer, userDefined: userDefined)
            denormalizer = try model.denormalizer.flatMap { spec in
                spec.precompiledCharsmap.isEmpty ? nil : try SentencePieceNormalizer(spec, userDefined: ByteTrie())
            }
        } catch let e as PrecompiledCharsmap.Malformed {
            throw TokenizerError.malformedModel(path: path, reason: e.reason)
        }
        switch model.modelType {
        case .unigram: segmenter = .unigram(UnigramEncoder(pieces: model.pieces, unknownID: unknownTokenID ?? -1))
        case .bpe: segmenter = .bpe(SentencePieceBPEEncoder(pieces: model.pieces, unknownID: unknownTokenID ?? -1, userDefined: userDefined))
        case .word, .char: throw TokenizerError.unsupportedModel(path: path, type: "SentencePiece \(model.modelType)")
        }
        inlineTokens = InlineTokenMatcher(model.pieces.enumerated().compactMap { id, p in
            p.type == .control || p.type == .unknown ? InlineToken(content: p.text, id: id, isControl: true) : nil
        })
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecial: true)
    }

    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        var ids: [Int] = []
        if addSpecialTokens && addsBOS, let bos = bosTokenID { ids.append(bos) }
        var atStart = true
        for fragment in inlineTokens.partition(Substring(text), parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id): ids.append(id)
            case .text(let t):
                let prefix = (atStart || !dummyPrefixOnlyAtStart) && !(noDummyPrefixBeforeSpace && t.first == " ")
                encodePlain(String(t), dummyPrefix: prefix, into: &ids)
            }
            atStart = false
        }
        if addSpecialTokens && addsEOS, let eos = eosTokenIDs.first { ids.append(eos) }
        return ids
    }

    /// sentencepiece's EncodeAsIds of one text.
    private func encodePlain(_ text: String, dummyPrefix: Bool, into ids: inout [Int]) {
        let normalized = normalizer.normalize(text, dummyPrefix: dummyPrefix)
        normalized.withUnsafeBufferPointer { buffer in
            let segments: [SegmentedPiece]
            switch segmenter {
            case .unigram(let u): segments = u.encode(buffer)
            case .bpe(let b): segments = b.encode(buffer)
            }
            var previousWasUnknown = false
            for s in segments {
                let isUnknown = s.id == (unknownTokenID ?? -1)
                if isUnknown, let byteIDs {
                    for i in s.start..<s.end { ids.append(byteIDs[Int(buffer[i])]) }
                } else if !(isUnknown && previousWasUnknown) {
                    ids.append(s.id)  // a run of unknown pieces is one <unk>
                }
                previousWasUnknown = isUnknown
            }
        }
    }

    // MARK: Decoding and lookup

    /// sentencepiece's DecodeIds: byte pieces are joined into characters (each invalid byte becomes
    /// U+FFFD), the space the encoder put in front is dropped, "▁" becomes a space. Control pieces
    /// are invisible to sentencepiece; here they show as their text unless `skipSpecialTokens`,
    /// which also drops <unk> (shown as " ⁇ " otherwise). Out-of-range ids are ignored.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var out: [UInt8] = []
        var pendingBytes: [UInt8] = []
        var expectsLeadingSpace = true
        var leadingSpaceSeen = false
        func flushBytes() {
            Self.appendDecodingBytes(pendingBytes, to: &out)
            pendingBytes.removeAll(keepingCapacity: true)
        }
        for id in ids where id >= 0 && id < vocabularySize {
            if types[id] == .byte { pendingBytes.append(bytesByID[id][0]); continue }
            flushBytes()
            if skipSpecialTokens && isSpecial(id) { continue }
            if leadingSpaceSeen || !out.isEmpty { expectsLeadingSpace = false }
            var piece = bytesByID[id][...]
            leadingSpaceSeen = false
            if [.normal, .userDefined, .unused].contains(types[id]) && expectsLeadingSpace
                && (addsSpacePrefix || removesExtraWhitespaces) && pieces[id].hasPrefix("\u{2581}") {
                piece = piece.dropFirst()
                leadingSpaceSeen = !removesExtraWhitespaces
            }
            out.append(contentsOf: piece)
        }
        flushBytes()
        if let denormalizer {
            out = out.withUnsafeBufferPointer { denormalizer.normalize($0) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes from byte pieces: whole characters as they are, each byte of a malformed one as U+FFFD.
    static func appendDecodingBytes(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                let length = UTF8Scan.validCharacterLength(b, i)
                if length == 0 { out += [0xEF, 0xBF, 0xBD]; i += 1 } else { out += b[i..<i + length]; i += length }
            }
        }
    }

    public func tokenBytes(_ id: Int) -> [UInt8] { id >= 0 && id < vocabularySize ? bytesByID[id] : [] }

    public func tokenString(_ id: Int) -> String? { id >= 0 && id < vocabularySize ? pieces[id] : nil }

    public func tokenID(_ token: String) -> Int? { vocabulary[Array(token.utf8)] }

    public func isSpecial(_ id: Int) -> Bool {
        guard id >= 0 && id < vocabularySize else { return false }
        return types[id] == .control || types[id] == .unknown
    }
}

/// SentencePiece-style tokenizers put a space before the text; decoding a whole text drops it again.
public protocol SpacePrefixing {
    var addsSpacePrefix: Bool { get }
}

extension SentencePieceTokenizer: SpacePrefixing {}
