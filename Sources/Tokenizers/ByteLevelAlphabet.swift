// GPT-2's byte-level alphabet: each of the 256 byte values is written as a printable character
// (printable Latin-1 bytes as themselves, the rest as U+0100 onwards: space is "Ġ", newline "Ċ"),
// so that a vocabulary of strings can hold arbitrary bytes.

enum ByteLevelAlphabet {
    /// byte → the scalar that stands for it.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// scalar value → byte, for the 256 scalars of the alphabet.
    static let byteForScalar: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The alphabet spelling of some bytes ("Ġthe" for " the").
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(scalarForByte[Int(b)]) }
        return String(out)
    }

    /// The bytes an alphabet string stands for, or nil when it holds a character outside the alphabet.
    static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.utf8.count)
        for s in token.unicodeScalars {
            guard let b = byteForScalar[s.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
