// Literal text operations on UTF-8 bytes, for normalizers, pre-tokenizers and decoders: Foundation's
// `replacingOccurrences` and String's `hasPrefix` compare grapheme clusters with canonical
// equivalence, so "▁" would not match in front of a combining mark; tokenizers work on code points.

/// Every occurrence of `pattern` replaced by `content`, left to right.
func replacingBytes(_ text: String, _ pattern: String, _ content: String) -> String {
    let p = Array(pattern.utf8)
    guard !p.isEmpty else { return text }
    let t = Array(text.utf8), c = Array(content.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(t.count)
    var i = 0
    while i < t.count {
        if t[i] == p[0] && i + p.count <= t.count && t[i..<i + p.count].elementsEqual(p) {
            out += c
            i += p.count
        } else {
            out.append(t[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Whether `text` starts with `prefix`, byte for byte.
func hasBytePrefix(_ text: String, _ prefix: String) -> Bool { text.utf8.starts(with: prefix.utf8) }
