// Special and added tokens written inside the text ("<|im_start|>", GPT-NeoX's runs of spaces) are
// matched as whole tokens before any pre-tokenization, like Hugging Face's AddedVocabulary and
// llama.cpp's tokenizer_st_partition. Matching is leftmost-longest over a byte trie.

struct InlineToken {
    var content: String
    var id: Int
    /// Control tokens are only matched when special tokens are parsed; user-defined ones always are.
    var isControl: Bool
    var lstrip = false
    var rstrip = false
    var singleWord = false
    /// Hugging Face `normalized`: matched against the normalized text rather than the raw text.
    var normalized = false
}

/// A piece of input: either text still to be tokenized or a token already decided.
enum Fragment {
    case text(Substring)
    case token(Int)
}

struct InlineTokenMatcher {
    private struct Node { var children: [UInt8: Int32] = [:]; var token: Int32 = -1 }
    private var nodes: [Node] = [Node()]
    private var tokens: [InlineToken] = []
    private var firstBytes = [Bool](repeating: false, count: 256)
    private var firstBytesControl = [Bool](repeating: false, count: 256)

    var isEmpty: Bool { tokens.isEmpty }

    init(_ tokens: [InlineToken]) {
        for token in tokens where !token.content.isEmpty { insert(token) }
    }

    private mutating func insert(_ token: InlineToken) {
        let index = Int32(tokens.count)
        tokens.append(token)
        var node = 0
        for b in token.content.utf8 {
            if let child = nodes[node].children[b] { node = Int(child); continue }
            nodes.append(Node())
            nodes[node].children[b] = Int32(nodes.count - 1)
            node = nodes.count - 1
        }
        // A later token with the same text replaces an earlier one (as a vocabulary map would).
        nodes[node].token = index
        let first = Int(token.content.utf8.first!)
        if token.isControl { firstBytesControl[first] = true } else { firstBytes[first] = true }
    }

    /// The longest token matching at byte `start`, as (token, end offset).
    private func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, parseSpecial: Bool) -> (InlineToken, Int)? {
        var node = 0
        var best: (InlineToken, Int)? = nil
        var i = start
        while i < bytes.count, let child = nodes[node].children[bytes[i]] {
            node = Int(child)
            i += 1
            let t = nodes[node].token
            if t >= 0 {
                let token = tokens[Int(t)]
                if parseSpecial || !token.isControl { best = (token, i) }
            }
        }
        return best
    }

    /// Splits `text` into text fragments and matched tokens.
    func partition(_ text: Substring, parseSpecial: Bool) -> [Fragment] {
        if tokens.isEmpty || text.isEmpty { return text.isEmpty ? [] : [.text(text)] }
        var fragments: [Fragment] = []
        let utf8 = Array(text.utf8)
        let startIndex = text.startIndex
        func substring(_ a: Int, _ b: Int) -> Substring {
            // Through the scalar view: token boundaries are scalar boundaries but need not be
            // Character boundaries (a combining mark may follow a token), which String slicing rounds.
            let lo = text.utf8.index(startIndex, offsetBy: a), hi = text.utf8.index(startIndex, offsetBy: b)
            return Substring(text.unicodeScalars[lo..<hi])
        }
        var textStart = 0
        var i = 0
        utf8.withUnsafeBufferPointer { bytes in
            while i < bytes.count {
                let b = Int(bytes[i])
                guard firstBytes[b] || (parseSpecial && firstBytesControl[b]),
                      let (token, end) = longestMatch(bytes, at: i, parseSpecial: parseSpecial),
                      !token.singleWord || isWordBoundary(bytes, i, end) else {
                    i += 1
                    continue
                }
                var left = i
                if token.lstrip { while left > textStart && isASCIISpace(bytes[left - 1]) { left -= 1 } }
                if left > textStart { fragments.append(.text(substring(textStart, left))) }
                fragments.append(.token(token.id))
                var right = end
                if token.rstrip { while right < bytes.count && isASCIISpace(bytes[right]) { right += 1 } }
                textStart = right
                i = right
            }
        }
        if textStart < utf8.count { fragments.append(.text(substring(textStart, utf8.count))) }
        return fragments
    }

    private func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }

    private func isWordBoundary(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        func isWordByte(_ b: UInt8) -> Bool {
            b >= 0x80 || (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F
        }
        let before = start == 0 || !isWordByte(bytes[start - 1])
        let after = end == bytes.count || !isWordByte(bytes[end])
        return before && after
    }
}
