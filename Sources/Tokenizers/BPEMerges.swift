// The BPE merge loop shared by every byte-level vocabulary: a word starts as one symbol per byte and
// the adjacent pair with the lowest merge rank is merged until no ranked pair is left (ties go to the
// leftmost pair, as in Hugging Face tokenizers and llama.cpp).

struct BPEMerges: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id)
    private let table: [UInt64: UInt64]

    /// Merges as pairs of vocabulary strings in rank order; pairs whose parts or result are not in the
    /// vocabulary are dropped (they could never apply).
    init(_ merges: [(String, String)], vocabulary: [String: Int]) {
        self.init(merges) { vocabulary[$0] }
    }

    /// The same with the vocabulary as a lookup (SentencePiece vocabularies key pieces by their bytes:
    /// Swift's String equality would take "ά" U+1F71 and U+03AC for one piece).
    init(_ merges: [(String, String)], id: (String) -> Int?) {
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (left, right)) in merges.enumerated() {
            guard let l = id(left), let r = id(right), let m = id(left + right) else { continue }
            let key = UInt64(l) << 32 | UInt64(r)
            if table[key] == nil { table[key] = UInt64(rank) << 32 | UInt64(m) }
        }
        self.table = table
    }

    var count: Int { table.count }

    @inline(__always)
    private func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        if left < 0 || right < 0 { return nil }
        return table[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))]
    }

    /// Merges `symbols` (token ids, -1 for a byte missing from the vocabulary) in place.
    func apply(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        if symbols.count > 256 { applyWithHeap(&symbols) } else { applyByScanning(&symbols) }
    }

    /// Short words: rescan the pair ranks after each merge, O(n²) but with no allocation.
    func applyByScanning(_ symbols: inout [Int32]) {
        if symbols.count < 2 { return }
        // ranks[i] is the merge of symbols[i] and symbols[i+1] (rank << 32 | merged), or .max.
        var ranks = [UInt64](repeating: .max, count: symbols.count - 1)
        for i in 0..<ranks.count { ranks[i] = lookup(symbols[i], symbols[i + 1]) ?? .max }
        while !ranks.isEmpty {
            var best = 0
            var bestValue = ranks[0]
            for i in 1..<ranks.count where ranks[i] >> 32 < bestValue >> 32 {
                best = i
                bestValue = ranks[i]
            }
            if bestValue == .max { break }
            symbols[best] = Int32(truncatingIfNeeded: bestValue & 0xFFFF_FFFF)
            symbols.remove(at: best + 1)
            ranks.remove(at: best)
            if best > 0 { ranks[best - 1] = lookup(symbols[best - 1], symbols[best]) ?? .max }
            if best < ranks.count { ranks[best] = lookup(symbols[best], symbols[best + 1]) ?? .max }
        }
    }

    /// The same merges for long words (a minified file, a long run of CJK): a heap of candidate pairs
    /// over a linked list of symbols, O(n log n) instead of O(n²).
    func applyWithHeap(_ symbols: inout [Int32]) {
        struct Candidate { var rank: UInt32; var left: Int32; var leftID: Int32; var rightID: Int32 }
        let n = symbols.count
        var next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
        var previous = (0..<n).map { Int32($0 - 1) }
        var heap = BinaryHeap<Candidate> { a, b in a.rank < b.rank || (a.rank == b.rank && a.left < b.left) }
        func consider(_ left: Int32) {
            guard left >= 0, next[Int(left)] >= 0 else { return }
            let l = symbols[Int(left)], r = symbols[Int(next[Int(left)])]
            if let v = lookup(l, r) { heap.push(Candidate(rank: UInt32(v >> 32), left: left, leftID: l, rightID: r)) }
        }
        for i in 0..<n - 1 { consider(Int32(i)) }
        while let c = heap.pop() {
            let left = Int(c.left)
            let right = Int(next[left])
            // Stale candidates: a side has merged since (merged tokens are longer, so ids never repeat).
            guard right >= 0, symbols[left] == c.leftID, symbols[right] == c.rightID,
                  let v = lookup(c.leftID, c.rightID) else { continue }
            symbols[left] = Int32(truncatingIfNeeded: v & 0xFFFF_FFFF)
            symbols[right] = -2  // removed
            next[left] = next[right]
            if next[right] >= 0 { previous[Int(next[right])] = Int32(left) }
            consider(previous[left])
            consider(Int32(left))
        }
        symbols.removeAll { $0 == -2 }
    }
}
