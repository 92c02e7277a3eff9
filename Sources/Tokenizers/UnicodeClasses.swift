// Unicode classes the pre-tokenizer regexes ask about (\p{L}, \p{N}, \p{P}, \s), one byte of flags per
// scalar. The Basic Multilingual Plane is tabulated once; other planes are looked up on demand.

struct ScalarClass {
    static let letter: UInt8 = 1        // \p{L}: Lu Ll Lt Lm Lo
    static let number: UInt8 = 2        // \p{N}: Nd Nl No
    static let whitespace: UInt8 = 4    // \s: the Unicode White_Space property
    static let punctuation: UInt8 = 8   // \p{P}: Pc Pd Ps Pe Pi Pf Po
    /// Set for every scalar, so that 0 means "outside the text" (as llama.cpp's empty flags do).
    static let present: UInt8 = 0x80

    private static let bmp: [UInt8] = {
        var table = [UInt8](repeating: present, count: 0x10000)
        for v in 0..<0x10000 {
            if let s = Unicode.Scalar(UInt32(v)) { table[v] = compute(s) }
        }
        return table
    }()

    @inline(__always)
    static func of(_ value: UInt32) -> UInt8 {
        if value < 0x10000 { return bmp[Int(value)] }
        guard let s = Unicode.Scalar(value) else { return present }
        return compute(s)
    }

    static func compute(_ s: Unicode.Scalar) -> UInt8 {
        var f = present
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            f |= letter
        case .decimalNumber, .letterNumber, .otherNumber:
            f |= number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            f |= punctuation
        default:
            break
        }
        if s.properties.isWhitespace { f |= whitespace }
        return f
    }
}

/// One piece of text as Unicode scalars with their classes and UTF-8 byte offsets, so pre-tokenizers
/// can work on scalar indexes while BPE works on bytes.
struct ScalarText {
    var scalars: [UInt32] = []
    var classes: [UInt8] = []
    /// utf8Offsets[i] is the byte offset of scalar i; one extra entry holds the total byte count.
    var utf8Offsets: [Int] = []
    var utf8: [UInt8] = []

    init(_ text: Substring) {
        utf8 = Array(text.utf8)
        scalars.reserveCapacity(utf8.count)
        classes.reserveCapacity(utf8.count)
        utf8Offsets.reserveCapacity(utf8.count + 1)
        var offset = 0
        for s in text.unicodeScalars {
            scalars.append(s.value)
            classes.append(ScalarClass.of(s.value))
            utf8Offsets.append(offset)
            offset += UTF8.width(s)
        }
        utf8Offsets.append(offset)
    }

    var count: Int { scalars.count }

    func bytes(_ range: Range<Int>) -> ArraySlice<UInt8> {
        utf8[utf8Offsets[range.lowerBound]..<utf8Offsets[range.upperBound]]
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: bytes(range), as: UTF8.self)
    }
}
