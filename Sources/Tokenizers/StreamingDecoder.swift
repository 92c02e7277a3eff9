// Turning generated token ids into text as they arrive. A token may end in the middle of a UTF-8
// character (byte-level BPE splits Japanese and emoji into byte pieces), so the bytes of an
// incomplete character are held back until the token that completes it.

public struct StreamingDecoder {
    public let tokenizer: Tokenizer
    /// Control tokens (BOS, EOS, chat markers) produce no text when true.
    public let skipSpecialTokens: Bool
    private var pending: [UInt8] = []
    /// Set while the space a SentencePiece encoder put before the text is still to be dropped.
    private var dropsLeadingSpace: Bool

    /// `stripsEncoderSpacePrefix`: decode a whole encoded text as `decode` does, dropping the space
    /// a SentencePiece encoder put in front. Leave it off for generated tokens that continue a prompt
    /// (their leading space is real).
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = true, stripsEncoderSpacePrefix: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
        dropsLeadingSpace = stripsEncoderSpacePrefix && (tokenizer as? SpacePrefixing)?.addsSpacePrefix == true
    }

    /// The text that token `id` completes: whole characters only.
    public mutating func append(_ id: Int) -> String {
        if skipSpecialTokens && tokenizer.isSpecial(id) { return "" }
        var bytes = tokenizer.tokenBytes(id)[...]
        if dropsLeadingSpace && !bytes.isEmpty {
            if bytes.first == 0x20 { bytes = bytes.dropFirst() }
            dropsLeadingSpace = false
        }
        pending.append(contentsOf: bytes)
        let complete = Self.completePrefixLength(pending)
        if complete == 0 { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is held back, with U+FFFD for an incomplete character.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Bytes held back, waiting for the rest of a character.
    public var pendingByteCount: Int { pending.count }

    /// The length of `bytes` without a trailing incomplete (but so far valid) UTF-8 sequence.
    /// Invalid bytes are not held back: they decode to U+FFFD at once.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        // Look back at most 3 bytes for the lead byte of the last sequence.
        var lead = n - 1
        while lead >= 0 && lead >= n - 4 && bytes[lead] & 0xC0 == 0x80 { lead -= 1 }
        guard lead >= 0 && lead >= n - 4 else { return n }
        let b = bytes[lead]
        let width: Int
        switch b {
        case 0xC2...0xDF: width = 2
        case 0xE0...0xEF: width = 3
        case 0xF0...0xF4: width = 4
        default: return n
        }
        let have = n - lead
        if have >= width { return n }
        // The second byte of some sequences has a narrower range; a byte outside it is invalid already.
        if have >= 2 {
            let second = bytes[lead + 1]
            switch b {
            case 0xE0: if second < 0xA0 { return n }
            case 0xED: if second > 0x9F { return n }
            case 0xF0: if second < 0x90 { return n }
            case 0xF4: if second > 0x8F { return n }
            default: break
            }
        }
        return lead
    }
}
