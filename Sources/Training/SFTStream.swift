// SFT data as a stream, so a run's memory does not follow its data's size: instruction files are read one record at
// a time (JSONLines), each rendered and tokenized as it is read, and training draws packed batches from a window of
// examples at a time. Data that fits one window (every bundled set) is trained exactly as when held whole: the same
// seeded shuffle, validation split, packing and batch order. Larger data goes window by window, each shuffled on its
// own (seeded by its number), with the validation examples drawn from the first window and left out of every epoch.
import Basics
import Foundation

/// Where SFT examples come from: a pass over them in a fixed order, which can be started again (each epoch).
public struct SFTSource {
    /// Starts a pass from the first example.
    public let startPass: () throws -> SFTPass
    /// Bytes a whole pass reads, when known (an epoch's steps are estimated from the first window's share of it).
    public let totalBytes: Int?

    public init(totalBytes: Int?, startPass: @escaping () throws -> SFTPass) {
        self.totalBytes = totalBytes
        self.startPass = startPass
    }

    /// Instruction files (JSONL, Alpaca or chat shape) read one record at a time, in order, then `extra` records
    /// (JCommonsenseQA, corpus pairs); `tokenize` renders and tokenizes each as it is read. Bad lines stop the pass
    /// with `file:line`, or, with `skipBadLines`, are passed over and listed in the pass's `skipped`.
    public static func instructions(files: [String], skipBadLines: Bool, extra: [InstructionRecord] = [],
                                    tokenize: @escaping (InstructionRecord) -> SFTSequence) -> SFTSource {
        let total = files.reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int) ?? 0) }
        return SFTSource(totalBytes: total > 0 ? total : nil) {
            SFTPass(files: files, skipBadLines: skipBadLines, extra: extra, tokenize: tokenize)
        }
    }
}

/// One pass over an SFTSource's examples.
public final class SFTPass {
    private let files: [String]
    private let skipBadLines: Bool
    private let extra: [InstructionRecord]
    private let tokenize: (InstructionRecord) -> SFTSequence
    private var fileIndex = 0, extraIndex = 0
    private var reader: JSONLines.Reader<InstructionRecord>?
    private var finishedBytes = 0
    /// Lines passed over as bad so far (with skipBadLines).
    public private(set) var skipped: [JSONLines.BadLine] = []
    /// Bytes of the files read so far.
    public var bytesRead: Int { finishedBytes + (reader?.bytesRead ?? 0) }

    init(files: [String], skipBadLines: Bool, extra: [InstructionRecord], tokenize: @escaping (InstructionRecord) -> SFTSequence) {
        self.files = files; self.skipBadLines = skipBadLines; self.extra = extra; self.tokenize = tokenize
    }

    /// The next example, tokenized; nil at the end of the pass.
    public func next() throws -> SFTSequence? {
        while fileIndex < files.count {
            let path = files[fileIndex]
            if reader == nil {
                reader = try InstructionData.reading(path) {
                    try JSONLines.Reader(path: path, skipBadLines: skipBadLines) { line, number in try InstructionData.record(line, path: path, number: number) }
                }
            }
            let record = try InstructionData.reading(path) { try reader!.next() }
            if let record { return tokenize(record) }
            skipped += reader!.skipped
            finishedBytes += reader!.bytesRead
            reader = nil
            fileIndex += 1
        }
        guard extraIndex < extra.count else { return nil }
        extraIndex += 1
        return tokenize(extra[extraIndex - 1])
    }
}

/// Packed training batches, one at a time, with the epoch each belongs to.
protocol SFTBatchFeed {
    mutating func next() throws -> (batch: MicroBatch, epoch: Int)
}

/// Every batch held (data that fits one window): a new seeded order each epoch.
struct WholeBatchFeed: SFTBatchFeed {
    let train: [MicroBatch]
    var rng: SeededRandom
    var order: [Int] = [], cursor = 0, epoch = 0

    init(train: [MicroBatch], seed: UInt64) {
        self.train = train
        rng = SeededRandom(seed: seed)
    }

    mutating func next() throws -> (batch: MicroBatch, epoch: Int) {
        if cursor == order.count {
            order = Array(train.indices)
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            cursor = 0
            epoch += 1
        }
        cursor += 1
        return (train[order[cursor - 1]], epoch)
    }
}

/// Data over one window: windows read in turn from the source, each shuffled (seed, epoch, window), packed and its
/// batches taken in a seeded order; the first window's validation examples are left out every epoch.
struct StreamedBatchFeed: SFTBatchFeed {
    let source: SFTSource
    let windowTokens: Int
    let seqLen: Int, rowsPerBatch: Int, padToken: Int
    let seed: UInt64
    /// Positions (in the first window's file order) of the validation examples.
    let held: Set<Int>
    var pass: SFTPass
    /// An example read past a window's end, the next window's first.
    var carried: SFTSequence?
    var window = 0, epoch = 1
    var batches: [MicroBatch] = [], cursor = 0
    /// The first window, already read to set the run up (taken instead of reading it again).
    var preloaded: [SFTSequence]?

    /// The feed with the first window already read from `pass`, and the example after it.
    func starting(with firstWindow: [SFTSequence], carried: SFTSequence) -> StreamedBatchFeed {
        var feed = self
        feed.preloaded = firstWindow
        feed.carried = carried
        return feed
    }

    mutating func next() throws -> (batch: MicroBatch, epoch: Int) {
        while cursor == batches.count {
            var examples = try readWindow()
            if examples.isEmpty {
                // The pass ended: the next epoch starts a new one.
                pass = try source.startPass()
                window = 0
                epoch += 1
                examples = try readWindow()
                guard !examples.isEmpty else { throw TrainingError.badData("the SFT data has no examples left on a second pass") }
            }
            if window == 0 { examples = examples.enumerated().filter { !held.contains($0.offset) }.map(\.element) }
            var rng = SeededRandom(seed: seed, stream: epoch &* 1_000_003 &+ window)
            for i in stride(from: examples.count - 1, to: 0, by: -1) { examples.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            var packed = SFTPacking.pack(examples, seqLen: seqLen, rowsPerBatch: rowsPerBatch, padToken: padToken).batches
            for i in stride(from: packed.count - 1, to: 0, by: -1) { packed.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            batches = packed
            cursor = 0
            window += 1
        }
        cursor += 1
        return (batches[cursor - 1], epoch)
    }

    /// Up to `windowTokens` tokens of examples (at least one), in file order.
    mutating func readWindow() throws -> [SFTSequence] {
        if let first = preloaded { preloaded = nil; return first }
        var out: [SFTSequence] = [], tokens = 0
        if let c = carried { out.append(c); tokens += c.tokens.count; carried = nil }
        while tokens < windowTokens, let s = try pass.next() {
            out.append(s)
            tokens += s.tokens.count
        }
        return out
    }
}
