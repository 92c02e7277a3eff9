// SentencePiece's normalizer (normalizer.cc): the longest precompiled rule at each position rewrites
// the text (user-defined symbols are left as written), runs of spaces collapse and leading/trailing
// spaces go (remove_extra_whitespaces), a space is put in front (add_dummy_prefix) and spaces become
// "▁" (escape_whitespaces).

struct SentencePieceNormalizer {
    private let charsmap: PrecompiledCharsmap?
    private let userDefined: ByteTrie
    private let addDummyPrefix: Bool
    private let removeExtraWhitespaces: Bool
    private let escapeWhitespaces: Bool

    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]  // "▁"

    init(_ spec: SentencePieceModelFile.NormalizerSpec, userDefined: ByteTrie) throws {
        charsmap = spec.precompiledCharsmap.isEmpty ? nil : try PrecompiledCharsmap(spec.precompiledCharsmap)
        self.userDefined = userDefined
        addDummyPrefix = spec.addDummyPrefix
        removeExtraWhitespaces = spec.removeExtraWhitespaces
        escapeWhitespaces = spec.escapeWhitespaces
    }

    /// The normalized form of the prefix at `start` and how many input bytes it replaces.
    private func normalizePrefix(_ input: UnsafeBufferPointer<UInt8>, _ start: Int) -> (UnsafeBufferPointer<UInt8>.SubSequence, Int) {
        if let end = userDefined.longestPrefix(of: input, from: start) {
            return (input[start..<end], end - start)
        }
        if let charsmap, let match = charsmap.longestMatch(input, from: start) {
            return match
        }
        let length = UTF8Scan.validCharacterLength(input, start)
        if length == 0 { return (Self.replacementBuffer[...], 1) }  // malformed: U+FFFD for one byte
        return (input[start..<start + length], length)
    }

    /// U+FFFD, allocated once for the program (slices of it are handed out above).
    private static let replacementBuffer: UnsafeBufferPointer<UInt8> = {
        let p = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 3)
        _ = p.initialize(from: [0xEF, 0xBF, 0xBD])
        return UnsafeBufferPointer(p)
    }()

    /// `dummyPrefix: false` leaves out the space add_dummy_prefix puts in front (transformers' Llama
    /// tokenizer with legacy = false, for text that does not start the input).
    func normalize(_ text: String, dummyPrefix: Bool = true) -> [UInt8] {
        var input = Array(text.utf8)
        return input.withUnsafeMutableBufferPointer { normalize(UnsafeBufferPointer($0), dummyPrefix: dummyPrefix) }
    }

    func normalize(_ input: UnsafeBufferPointer<UInt8>, dummyPrefix: Bool = true) -> [UInt8] {
        var position = 0
        if removeExtraWhitespaces {
            while position < input.count {
                let (piece, length) = normalizePrefix(input, position)
                if !(piece.count == 1 && piece.first == 0x20) { break }
                position += length
            }
        }
        if position >= input.count { return [] }
        var out: [UInt8] = []
        out.reserveCapacity((input.count - position) * 3)
        func appendSpace() { if escapeWhitespaces { out += Self.spaceSymbol } else { out.append(0x20) } }
        if addDummyPrefix && dummyPrefix { appendSpace() }
        var previousWasSpace = removeExtraWhitespaces
        while position < input.count {
            var (piece, length) = normalizePrefix(input, position)
            if previousWasSpace { while piece.first == 0x20 { piece = piece.dropFirst() } }
            if !piece.isEmpty {
                for b in piece { if b == 0x20 && escapeWhitespaces { out += Self.spaceSymbol } else { out.append(b) } }
                previousWasSpace = piece.last == 0x20
            }
            position += length
            if !removeExtraWhitespaces { previousWasSpace = false }
        }
        if removeExtraWhitespaces {
            let space = escapeWhitespaces ? Self.spaceSymbol : [0x20]
            while out.count >= space.count && Array(out[(out.count - space.count)...]) == space { out.removeLast(space.count) }
        }
        return out
    }
}

/// UTF-8 helpers with sentencepiece's rules (util.cc).
enum UTF8Scan {
    /// sentencepiece's OneCharLen: the width the lead byte announces (1 for a stray continuation byte).
    @inline(__always) static func leadWidth(_ b: UInt8) -> Int {
        switch b >> 4 { case 0xC, 0xD: return 2; case 0xE: return 3; case 0xF: return 4; default: return 1 }
    }

    /// The length of the valid UTF-8 character at `start`, or 0 when it is malformed.
    static func validCharacterLength(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        let b0 = bytes[start]
        if b0 < 0x80 { return 1 }
        let n = bytes.count - start
        func trail(_ i: Int) -> Bool { bytes[start + i] & 0xC0 == 0x80 }
        var cp: UInt32
        var width: Int
        if b0 & 0xE0 == 0xC0, n >= 2, trail(1) {
            cp = UInt32(b0 & 0x1F) << 6 | UInt32(bytes[start + 1] & 0x3F); width = 2
            if cp < 0x80 { return 0 }
        } else if b0 & 0xF0 == 0xE0, n >= 3, trail(1), trail(2) {
            cp = UInt32(b0 & 0x0F) << 12 | UInt32(bytes[start + 1] & 0x3F) << 6 | UInt32(bytes[start + 2] & 0x3F); width = 3
            if cp < 0x800 { return 0 }
        } else if b0 & 0xF8 == 0xF0, n >= 4, trail(1), trail(2), trail(3) {
            cp = UInt32(b0 & 0x07) << 18 | UInt32(bytes[start + 1] & 0x3F) << 12 | UInt32(bytes[start + 2] & 0x3F) << 6
                | UInt32(bytes[start + 3] & 0x3F); width = 4
            if cp < 0x10000 { return 0 }
        } else {
            return 0
        }
        if (0xD800...0xDFFF).contains(cp) || cp > 0x10FFFF { return 0 }
        return width
    }
}
