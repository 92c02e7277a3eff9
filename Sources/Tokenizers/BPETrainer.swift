// Training a byte-level BPE vocabulary (GPT-2 / GPT-NeoX style): text is NFC-normalized and split
// into words by the GPT-2 pre-tokenizer, words are counted, and starting from the 256-byte alphabet
// the most frequent adjacent pair is merged again and again until the vocabulary is full.
//
// Pair counts are kept incrementally, as Hugging Face's trainer does: merging (a, b) → c only visits
// the words that hold the pair (an index from pair to words) and adjusts the counts of the pairs
// around each occurrence, so the whole run costs about one pass over the words' symbols. The most
// frequent pair comes from a max-heap with lazy invalidation; ties go to the pair with the smaller
// (left id, right id), so training is deterministic.
import Foundation

public struct BPETrainerOptions {
    /// Total vocabulary size: special tokens + 256 bytes + merges.
    public var vocabSize: Int
    /// Pairs seen fewer times than this are never merged.
    public var minFrequency: Int = 2
    /// Added special tokens, ids 0, 1, ... in this order.
    public var specialTokens: [String] = BPETrainer.defaultSpecialTokens
    public init(vocabSize: Int, minFrequency: Int = 2, specialTokens: [String] = BPETrainer.defaultSpecialTokens) {
        self.vocabSize = vocabSize
        self.minFrequency = minFrequency
        self.specialTokens = specialTokens
    }
}

/// A trained vocabulary: tokens by id (special tokens first as written, then byte-level alphabet
/// spellings) and the merges in rank order.
public struct TrainedBPE {
    public var specialTokens: [String]
    public var tokens: [String]
    public var merges: [(String, String)]
    /// Words (distinct pre-tokenized pieces) the counts were taken over.
    public var distinctWords: Int
}

public enum BPETrainer {
    /// <|endoftext|> (id 0, EOS and document separator), <|padding|> (id 1), then chat markers.
    public static let defaultSpecialTokens = ["<|endoftext|>", "<|padding|>", "<|im_start|>", "<|im_end|>",
                                              "<|user|>", "<|assistant|>", "<|system|>"]

    public static func train(documents: [String], options: BPETrainerOptions,
                             progress: ((Int, Int) -> Void)? = nil) -> TrainedBPE {
        let (wordBytes, wordCounts) = countWords(documents)
        return train(words: wordBytes, counts: wordCounts, options: options, progress: progress)
    }

    /// Distinct words (as UTF-8 bytes) and how often each occurs, counted on all cores.
    static func countWords(_ documents: [String]) -> ([[UInt8]], [Int]) {
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, documents.count))
        var partial = [[[UInt8]: Int]](repeating: [:], count: workers)
        partial.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var counts: [[UInt8]: Int] = [:]
                var i = w * documents.count / workers
                let end = (w + 1) * documents.count / workers
                while i < end {
                    let text = ScalarText(Substring(Normalizer.nfc.apply(documents[i])))
                    for word in preTokenize(text, rules: [.gpt2]) { counts[Array(text.bytes(word)), default: 0] += 1 }
                    i += 1
                }
                (base + w).pointee = counts
            }
        }
        var merged = partial[0]
        for p in partial.dropFirst() { merged.merge(p, uniquingKeysWith: +) }
        // A fixed word order keeps pair-to-word lists, and so everything after, deterministic.
        let words = merged.keys.sorted { $0.lexicographicallyPrecedes($1) }
        return (words, words.map { merged[$0]! })
    }

    static func train(words wordBytes: [[UInt8]], counts: [Int], options: BPETrainerOptions,
                      progress: ((Int, Int) -> Void)?) -> TrainedBPE {
        let specials = options.specialTokens
        var tokens = specials
        let firstByteID = Int32(tokens.count)
        for b in 0..<256 { tokens.append(ByteLevelAlphabet.encode([UInt8(b)])) }
        var known = Set(tokens)
        var merges: [(String, String)] = []

        var words: [[Int32]] = wordBytes.map { $0.map { firstByteID + Int32($0) } }
        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int32]] = [:]
        @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)) }
        for (w, symbols) in words.enumerated() where symbols.count > 1 {
            let n = counts[w]
            for i in 0..<(symbols.count - 1) {
                let k = key(symbols[i], symbols[i + 1])
                pairCounts[k, default: 0] += n
                if pairWords[k]?.last != Int32(w) { pairWords[k, default: []].append(Int32(w)) }
            }
        }
        var heap = PairHeap()
        for (k, c) in pairCounts { heap.push(count: c, pair: k) }

        var visited = [Int32](repeating: -1, count: words.count)
        var changed: [UInt64] = []
        let target = max(options.vocabSize, tokens.count)
        while tokens.count < target, let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 { heap.push(count: current, pair: top.pair) }
                continue
            }
            if current < options.minFrequency { break }
            let a = Int32(truncatingIfNeeded: top.pair >> 32), b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let merged = tokens[Int(a)] + tokens[Int(b)]
            if known.contains(merged) {
                // Spelled like a special token: never produce it.
                pairCounts[top.pair] = 0
                continue
            }
            let c = Int32(tokens.count)
            tokens.append(merged)
            known.insert(merged)
            merges.append((tokens[Int(a)], tokens[Int(b)]))
            let stamp = Int32(merges.count)

            changed.removeAll(keepingCapacity: true)
            @inline(__always) func add(_ k: UInt64, _ n: Int, _ w: Int32) {
                pairCounts[k, default: 0] += n
                if n > 0 {
                    changed.append(k)
                    if pairWords[k]?.last != w { pairWords[k, default: []].append(w) }
                }
            }
            for w in pairWords.removeValue(forKey: top.pair) ?? [] where visited[Int(w)] != stamp {
                visited[Int(w)] = stamp
                let s = words[Int(w)]
                guard s.count > 1 else { continue }
                let n = counts[Int(w)]
                var out: [Int32] = []
                out.reserveCapacity(s.count)
                var i = 0
                while i < s.count {
                    if i + 1 < s.count && s[i] == a && s[i + 1] == b {
                        if let prev = out.last { add(key(prev, a), -n, w); add(key(prev, c), n, w) }
                        add(key(a, b), -n, w)
                        if i + 2 < s.count { add(key(b, s[i + 2]), -n, w); add(key(c, s[i + 2]), n, w) }
                        out.append(c)
                        i += 2
                    } else {
                        out.append(s[i])
                        i += 1
                    }
                }
                words[Int(w)] = out
            }
            pairCounts[top.pair] = nil
            for k in changed { if let n = pairCounts[k], n > 0 { heap.push(count: n, pair: k) } }
            if let progress, merges.count % 1000 == 0 { progress(tokens.count, target) }
        }
        return TrainedBPE(specialTokens: specials, tokens: tokens, merges: merges, distinctWords: words.count)
    }
}

/// Max-heap of (count, pair): higher count first, then the smaller pair key (left id, then right id).
struct PairHeap {
    private var counts: [Int] = []
    private var pairs: [UInt64] = []

    @inline(__always) private func above(_ i: Int, _ j: Int) -> Bool {
        counts[i] > counts[j] || (counts[i] == counts[j] && pairs[i] < pairs[j])
    }
    private mutating func swapAt(_ i: Int, _ j: Int) { counts.swapAt(i, j); pairs.swapAt(i, j) }

    mutating func push(count: Int, pair: UInt64) {
        counts.append(count); pairs.append(pair)
        var i = counts.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard above(i, parent) else { break }
            swapAt(i, parent); i = parent
        }
    }

    mutating func pop() -> (count: Int, pair: UInt64)? {
        guard !counts.isEmpty else { return nil }
        let top = (counts[0], pairs[0])
        let last = counts.count - 1
        swapAt(0, last)
        counts.removeLast(); pairs.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var best = i
            if l < counts.count && above(l, best) { best = l }
            if r < counts.count && above(r, best) { best = r }
            if best == i { break }
            swapAt(i, best); i = best
        }
        return top
    }
}
