// Where few-shot examples are drawn from: every item of a pool file (or of the evaluated set), or, when only a
// few items are evaluated (`--limit`), just the pool items those items draw, read from the file in one pass, so
// a gigabyte pool costs a count of its lines rather than its size in memory. The draws depend only on the seed,
// the item and the pool's size: both forms give the same examples.
import Basics
import Foundation

public struct FewshotPool: Sendable {
    /// The number of items in the pool (what the draws range over).
    public let count: Int
    private let items: [Int: JSONValue]
    private let all: [JSONValue]?

    public static let empty = FewshotPool([])

    /// A pool held whole.
    public init(_ items: [JSONValue]) {
        count = items.count
        all = items
        self.items = [:]
    }

    /// A pool of `count` items of which only `items` (by index) were read.
    public init(count: Int, items: [Int: JSONValue]) {
        self.count = count
        self.items = items
        all = nil
    }

    public var isEmpty: Bool { count == 0 }

    /// Item `index`; nil when this pool did not read it (a draw the caller did not ask for).
    public subscript(index: Int) -> JSONValue? {
        if let all { return index < all.count ? all[index] : nil }
        return items[index]
    }

    /// The pool of `file` for the evaluated items `evaluated`: the indices they draw are read, nothing else.
    static func reading(_ file: String, skipBadLines: Bool, textSplit: Dataset.TextSplit = .file, for evaluated: Range<Int>,
                        task: EvalTask, numFewshot: Int, poolIsEvalSet: Bool) throws -> FewshotPool {
        let count = try Dataset.count(path: file, skipBadLines: skipBadLines, textSplit: textSplit)
        var wanted = Set<Int>()
        for item in evaluated {
            wanted.formUnion(task.fewshotDraws(item: item, poolCount: count, poolIsEvalSet: poolIsEvalSet, numFewshot: numFewshot))
        }
        let items = try Dataset.items(at: wanted, path: file, skipBadLines: skipBadLines, textSplit: textSplit)
        return FewshotPool(count: count, items: items)
    }
}

extension EvalTask {
    /// The pool indices item `item` draws, in order, before the item itself (and copies of it) are set aside:
    /// one more than `numFewshot` when the pool is the evaluated set, as lm-eval's sampler draws.
    func fewshotDraws(item: Int, poolCount: Int, poolIsEvalSet: Bool, numFewshot: Int) -> [Int] {
        guard numFewshot > 0, poolCount > 0 else { return [] }
        var rng = SeededRandom(seed: fewshotSeed, stream: item)
        return rng.sample(count: poolIsEvalSet ? numFewshot + 1 : numFewshot, from: poolCount)
    }
}
