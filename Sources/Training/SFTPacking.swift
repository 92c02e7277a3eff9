// Supervised fine-tuning data: examples rendered by a chat template into text segments, each either
// trained on (the assistant's responses) or only read (system, user, template markup). Tokenized
// with the loss masked on the read segments, then packed several to a row without attention or loss
// crossing example boundaries (positions restart at each example; see TrainingModel.forward).
import Foundation
import Tokenizers

/// One rendered example: its text in order, each piece marked as trained on or not.
public struct SFTExample: Sendable, Equatable {
    public struct Segment: Sendable, Equatable {
        public var text: String
        public var trained: Bool
        public init(_ text: String, trained: Bool) { self.text = text; self.trained = trained }
    }
    public var segments: [Segment]
    /// Where the example came from (file:line), for messages.
    public var source: String
    public init(segments: [Segment], source: String = "") { self.segments = segments; self.source = source }
}

/// A tokenized example: ids and, per id, whether its prediction is scored.
public struct SFTSequence: Sendable, Equatable {
    public var tokens: [Int]
    public var trained: [Bool]
    public var trainedCount: Int { trained.filter { $0 }.count }
}

public struct SFTPackingReport: Sendable, Equatable {
    public var examples = 0
    public var packedRows = 0
    /// Examples longer than a row, cut to fit (their response may be partly lost).
    public var truncated = 0
    /// Examples dropped: nothing left to train on after truncation, or no response at all.
    public var skipped = 0
    public var trainedTokens = 0
    public var totalTokens = 0
}

public enum SFTPacking {
    /// Tokenizes one example. Each segment is encoded on its own (special tokens in the text are
    /// matched), so the boundaries between read and trained text fall between tokens. BOS is added
    /// in front when the tokenizer adds one.
    public static func tokenize(_ example: SFTExample, tokenizer: Tokenizer) -> SFTSequence {
        var tokens: [Int] = [], trained: [Bool] = []
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenID { tokens.append(bos); trained.append(false) }
        for segment in example.segments where !segment.text.isEmpty {
            let ids = tokenizer.encode(segment.text, addSpecialTokens: false)
            tokens += ids
            trained += Array(repeating: segment.trained, count: ids.count)
        }
        return SFTSequence(tokens: tokens, trained: trained)
    }

    /// Packs sequences greedily, in order, into rows of `seqLen` tokens. Returns micro-batches of
    /// `rowsPerBatch` rows (the last padded with ignored filler) with labels (-100 where not trained)
    /// and per-token positions. A sequence longer than a row is cut to `seqLen`; one with no trained
    /// token left is skipped.
    public static func pack(_ sequences: [SFTSequence], seqLen: Int, rowsPerBatch: Int, padToken: Int)
        -> (batches: [MicroBatch], report: SFTPackingReport)
    {
        var report = SFTPackingReport()
        var rows: [(tokens: [Int], labels: [Int], positions: [Int])] = []
        var current: (tokens: [Int], labels: [Int], positions: [Int]) = ([], [], [])
        func flush() {
            guard !current.tokens.isEmpty else { return }
            let pad = seqLen - current.tokens.count
            current.tokens += Array(repeating: padToken, count: pad)
            current.labels += Array(repeating: TrainingModel.ignoreIndex, count: pad)
            // Padding continues the last document's positions; it is never scored and comes after it.
            let last = current.positions.last ?? -1
            current.positions += (0..<pad).map { last + 1 + $0 }
            rows.append(current)
            current = ([], [], [])
        }
        for var sequence in sequences {
            report.examples += 1
            if sequence.tokens.count > seqLen {
                sequence.tokens.removeLast(sequence.tokens.count - seqLen)
                sequence.trained.removeLast(sequence.trained.count - seqLen)
                report.truncated += 1
            }
            // Label of token i is scored when predicting it from i-1: the first token never is.
            let labels = sequence.tokens.enumerated().map { i, id in i > 0 && sequence.trained[i] ? id : TrainingModel.ignoreIndex }
            let scored = labels.filter { $0 != TrainingModel.ignoreIndex }.count
            guard scored > 0 else { report.skipped += 1; continue }
            if current.tokens.count + sequence.tokens.count > seqLen { flush() }
            current.tokens += sequence.tokens
            current.labels += labels
            current.positions += Array(0..<sequence.tokens.count)
            report.trainedTokens += scored
            report.totalTokens += sequence.tokens.count
        }
        flush()
        report.packedRows = rows.count
        var batches: [MicroBatch] = []
        for start in stride(from: 0, to: rows.count, by: rowsPerBatch) {
            var chunk = Array(rows[start..<min(start + rowsPerBatch, rows.count)])
            while chunk.count < rowsPerBatch {
                chunk.append((Array(repeating: padToken, count: seqLen), Array(repeating: TrainingModel.ignoreIndex, count: seqLen),
                              Array(0..<seqLen)))
            }
            batches.append(MicroBatch(tokens: chunk.flatMap(\.tokens), labels: chunk.flatMap(\.labels),
                                      positions: chunk.flatMap(\.positions)))
        }
        return (batches, report)
    }
}
