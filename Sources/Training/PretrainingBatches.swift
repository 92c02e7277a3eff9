// Pretraining data as batches: a token stream (documents already joined with their end-of-text id)
// cut into non-overlapping windows of seqLen tokens, visited in a seeded random order that is
// reshuffled each epoch. Labels are the tokens themselves; the model shifts them (HF convention),
// so a window of T tokens gives T − 1 targets.
import Basics

public struct PretrainingBatches: Sendable {
    public let tokens: [Int]
    public let batchSize: Int
    public let seqLen: Int
    public let seed: UInt64
    /// Whole windows in the stream; a tail shorter than seqLen is dropped.
    public var windowCount: Int { tokens.count / seqLen }
    /// Batches per epoch (windows left over at the end of an epoch are dropped).
    public var batchesPerEpoch: Int { windowCount / batchSize }

    public init(tokens: [Int], batchSize: Int, seqLen: Int, seed: UInt64) throws {
        guard batchSize > 0, seqLen > 1 else { throw TrainingError.badBatch("batch size must be positive and sequence length at least 2") }
        guard tokens.count / seqLen >= batchSize else {
            throw TrainingError.badBatch("\(tokens.count) tokens make \(tokens.count / seqLen) windows of \(seqLen), fewer than one batch of \(batchSize)")
        }
        self.tokens = tokens; self.batchSize = batchSize; self.seqLen = seqLen; self.seed = seed
    }

    /// The window order of an epoch: a Fisher–Yates shuffle seeded by (seed, epoch).
    public func order(epoch: Int) -> [Int] {
        var rng = SeededRandom(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var order = Array(0..<windowCount)
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        }
        return order
    }

    /// Batch number `index` counted from the start of training (epochs follow each other).
    public func batch(_ index: Int) -> MicroBatch {
        let epoch = index / batchesPerEpoch, within = index % batchesPerEpoch
        let windows = order(epoch: epoch)[(within * batchSize)..<((within + 1) * batchSize)]
        var out: [Int] = []
        out.reserveCapacity(batchSize * seqLen)
        for w in windows { out.append(contentsOf: tokens[(w * seqLen)..<((w + 1) * seqLen)]) }
        return MicroBatch(tokens: out)
    }
}
