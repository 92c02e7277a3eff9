// The two SentencePiece segmentation algorithms over normalized, "▁"-escaped UTF-8, exactly as
// sentencepiece 0.2.3 runs them (float arithmetic, tie-breaking and all): unigram by Viterbi over piece scores (unigram_model.cc
// EncodeOptimized) and BPE by merging the adjacent pair whose joined piece scores highest
// (bpe_model.cc). Both return pieces as byte ranges of the input with their ids (the unknown id
// where no piece fits); byte fallback and unknown runs are handled by the caller.

struct SegmentedPiece { var start: Int; var end: Int; var id: Int }

struct UnigramEncoder {
    /// sentencepiece keeps path scores in Float and shifts them back to 0 past ±100,000; Hugging Face
    /// tokenizers keeps them in Double and never shifts. Long texts can tie-break differently.
    enum Arithmetic { case sentencePiece, huggingFace }

    private let trie: ByteTrie
    private let scores: [Float]
    private let isUserDefined: [Bool]
    private let isUnused: [Bool]
    private let unknownID: Int
    private let minScore: Float
    private let arithmetic: Arithmetic

    /// `minScore`: the score below which unknown characters are put (sentencepiece: the lowest normal
    /// piece's; Hugging Face: the lowest in the vocabulary).
    init(pieces: [SentencePieceModelFile.Piece], unknownID: Int, arithmetic: Arithmetic = .sentencePiece, minScore: Float? = nil) {
        var entries: [(String, Int)] = []
        var lowest = Float.greatestFiniteMagnitude
        for (id, p) in pieces.enumerated() {
            if p.type == .normal || p.type == .userDefined || p.type == .unused { entries.append((p.text, id)) }
            if p.type == .normal { lowest = min(lowest, p.score) }
        }
        trie = ByteTrie(entries)
        scores = pieces.map(\.score)
        isUserDefined = pieces.map { $0.type == .userDefined }
        isUnused = pieces.map { $0.type == .unused }
        self.unknownID = unknownID
        self.minScore = minScore ?? lowest
        self.arithmetic = arithmetic
    }

    func encode(_ text: UnsafeBufferPointer<UInt8>) -> [SegmentedPiece] {
        switch arithmetic {
        case .sentencePiece: return viterbi(text, Float.self, resetsBeyond: 100_000)
        case .huggingFace: return viterbi(text, Double.self, resetsBeyond: nil)
        }
    }

    private func viterbi<Score: BinaryFloatingPoint>(_ text: UnsafeBufferPointer<UInt8>, _: Score.Type,
                                                      resetsBeyond threshold: Score?) -> [SegmentedPiece] {
        let size = text.count
        if size == 0 { return [] }
        let unknownScore = Score(minScore) - 10  // kUnkPenalty
        // The best path ending at each byte offset: its score, where its last piece starts, that piece.
        var bestScore = [Score](repeating: 0, count: size + 1)
        var bestStart = [Int](repeating: -1, count: size + 1)
        var bestID = [Int](repeating: -1, count: size + 1)
        var start = 0
        var frontier = 0
        while start < size {
            var scoreHere = bestScore[start]
            // Long texts: sentencepiece shifts the scores back to 0 now and then to keep float precision.
            if let threshold, scoreHere < -threshold || scoreHere > threshold {
                let offset = scoreHere
                for i in start...max(start, frontier) where i == start || bestStart[i] != -1 { bestScore[i] -= offset }
                scoreHere = 0
            }
            let charLength = min(UTF8Scan.leadWidth(text[start]), size - start)
            var hasSingleCharacterPiece = false
            trie.forEachPrefix(of: text, from: start) { end, id in
                if isUnused[id] { return }
                frontier = max(frontier, end)
                let length = end - start
                // A user-defined symbol always wins over the pieces it could be split into.
                let score = isUserDefined[id] ? Score(Float(0.1 * Double(length - 1))) : Score(scores[id])
                let candidate = score + scoreHere
                if bestStart[end] == -1 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = id
                }
                if length == charLength { hasSingleCharacterPiece = true }
            }
            if !hasSingleCharacterPiece {
                let end = start + charLength
                frontier = max(frontier, end)
                let candidate = unknownScore + scoreHere
                if bestStart[end] == -1 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    bestStart[end] = start
                    bestID[end] = unknownID
                }
            }
            start += charLength
        }
        var pieces: [SegmentedPiece] = []
        var end = size
        while end > 0 {
            let s = bestStart[end]
            pieces.append(SegmentedPiece(start: s, end: end, id: bestID[end]))
            end = s
        }
        pieces.reverse()
        return pieces
    }
}

struct SentencePieceBPEEncoder {
    /// Normal, user-defined and unused pieces: what a merge may produce and a symbol may be output as.
    private let pieces: ByteTrie  // by bytes: String equality would merge canonically equivalent pieces
    private let scores: [Float]
    private let isUnused: [Bool]
    private let userDefined: ByteTrie
    private let unknownID: Int

    init(pieces list: [SentencePieceModelFile.Piece], unknownID: Int, userDefined: ByteTrie) {
        // sentencepiece refuses duplicate pieces, so the first id of a text is its only one.
        pieces = ByteTrie(list.enumerated().filter { $0.element.type == .normal || $0.element.type == .userDefined || $0.element.type == .unused }
            .map { ($0.element.text, $0.offset) })
        scores = list.map(\.score)
        isUnused = list.map { $0.type == .unused }
        self.userDefined = userDefined
        self.unknownID = unknownID
    }

    private struct Symbol { var start: Int; var count: Int; var previous: Int; var next: Int; var frozen: Bool }
    private struct Pair { var left: Int; var right: Int; var score: Float; var size: Int }

    /// The piece that is exactly these bytes (a walk down the trie: no array per lookup).
    private func id(_ text: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Int? {
        pieces.value(of: text, from: start, count: count)
    }

    func encode(_ text: UnsafeBufferPointer<UInt8>) -> [SegmentedPiece] {
        if text.isEmpty { return [] }
        // One symbol per character; a user-defined symbol is one frozen symbol.
        var symbols: [Symbol] = []
        var offset = 0
        while offset < text.count {
            var length = min(UTF8Scan.leadWidth(text[offset]), text.count - offset)
            var frozen = false
            if let end = userDefined.longestPrefix(of: text, from: offset) { length = end - offset; frozen = true }
            symbols.append(Symbol(start: offset, count: length, previous: symbols.count - 1, next: -1, frozen: frozen))
            offset += length
            if offset < text.count { symbols[symbols.count - 1].next = symbols.count }
        }
        // Highest score first; on equal scores the leftmost pair.
        var agenda = BinaryHeap<Pair> { a, b in a.score > b.score || (a.score == b.score && a.left < b.left) }
        // An unused piece is never output: remember which two symbols made it, to split it again.
        var splitOfUnused: [Int: Int] = [:]  // merged id -> byte length of its left part
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, !symbols[left].frozen, !symbols[right].frozen else { return }
            let size = symbols[left].count + symbols[right].count
            guard let merged = id(text, symbols[left].start, size) else { return }
            agenda.push(Pair(left: left, right: right, score: scores[merged], size: size))
            if isUnused[merged] {
                splitOfUnused[merged] = symbols[left].count
            }
        }
        for i in 1..<symbols.count { consider(i - 1, i) }
        while let top = agenda.pop() {
            let left = symbols[top.left], right = symbols[top.right]
            if left.count == 0 || right.count == 0 || left.count + right.count != top.size { continue }
            symbols[top.left].count += right.count
            symbols[top.left].next = right.next
            if right.next >= 0 { symbols[right.next].previous = top.left }
            symbols[top.right].count = 0
            consider(symbols[top.left].previous, top.left)
            consider(top.left, symbols[top.left].next)
        }
        var output: [SegmentedPiece] = []
        // A symbol that is no normal piece is unknown; an unused one is split back (at most 100 deep).
        func resegment(_ start: Int, _ count: Int, depth: Int) {
            guard let pieceID = id(text, start, count) else {
                return output.append(SegmentedPiece(start: start, end: start + count, id: unknownID))
            }
            if depth > 100 || !isUnused[pieceID] {
                return output.append(SegmentedPiece(start: start, end: start + count, id: pieceID))
            }
            guard let leftCount = splitOfUnused[pieceID] else {
                return output.append(SegmentedPiece(start: start, end: start + count, id: unknownID))
            }
            resegment(start, leftCount, depth: depth + 1)
            resegment(start + leftCount, count - leftCount, depth: depth + 1)
        }
        var i = 0
        while i != -1 {
            resegment(symbols[i].start, symbols[i].count, depth: 0)
            i = symbols[i].next
        }
        return output
    }
}
