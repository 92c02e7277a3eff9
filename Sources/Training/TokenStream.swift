// A TokenStream joins packed token shards (Corpus.TokenShard: llm.c's format, memory-mapped) or an
// in-memory array into one sequence that training cuts into windows.
import Foundation
import Corpus

/// One token sequence made of shards read in place, or of tokens held in memory.
public final class TokenStream: @unchecked Sendable {
    private let shards: [TokenShard]
    private let starts: [Int]          // first index of each shard in the stream
    private let array: [Int32]?
    /// Where this stream starts in its shards or array (a view of part of another stream).
    private let offset: Int
    public let count: Int
    /// Where the tokens came from (shard paths or a description), for messages.
    public let source: String

    public init(shards: [TokenShard]) {
        self.shards = shards
        var starts: [Int] = [], total = 0
        for s in shards { starts.append(total); total += s.count }
        self.starts = starts; count = total; array = nil; offset = 0
        source = shards.map(\.path).joined(separator: ", ")
    }

    public init(tokens: [Int], source: String) {
        shards = []; starts = []; array = tokens.map { Int32($0) }; count = tokens.count; offset = 0; self.source = source
    }

    /// Part of another stream (a validation split held out from the training tokens).
    public init(_ base: TokenStream, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= base.count)
        shards = base.shards; starts = base.starts; array = base.array
        offset = base.offset + range.lowerBound; count = range.count; source = base.source
    }

    /// tokens[range] as Ints (may cross shard boundaries).
    public func tokens(_ window: Range<Int>) -> [Int] {
        precondition(window.lowerBound >= 0 && window.upperBound <= count)
        let range = (window.lowerBound + offset)..<(window.upperBound + offset)
        if let array { return array[range].map { Int($0) } }
        var out: [Int] = []
        out.reserveCapacity(range.count)
        var shard = max(0, (starts.lastIndex { $0 <= range.lowerBound }) ?? 0)
        var i = range.lowerBound
        while i < range.upperBound {
            while shard + 1 < shards.count && starts[shard + 1] <= i { shard += 1 }
            let s = shards[shard], local = i - starts[shard]
            let end = min(range.upperBound - i, s.count - local)
            for j in 0..<end { out.append(s[local + j]) }
            i += end
            if end == 0 { shard += 1 }
        }
        return out
    }

    /// The first id ≥ vocabSize (a tokenizer that does not match the shards), with its index.
    public func firstOutOfRange(vocabSize: Int) -> (index: Int, id: Int)? {
        let chunk = 1 << 16
        var start = 0
        while start < count {
            let part = tokens(start..<min(start + chunk, count))
            if let j = part.firstIndex(where: { $0 >= vocabSize || $0 < 0 }) { return (start + j, part[j]) }
            start += chunk
        }
        return nil
    }
}
