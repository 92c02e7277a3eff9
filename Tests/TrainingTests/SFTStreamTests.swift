// SFT data streamed (issue 15): data within one window trains exactly as when held whole, and data over it is read a
// window at a time — a 200 MB JSONL starts training after reading one window, its memory not following the file.
import XCTest
import Foundation
import Checkpoints
import Tokenizers
@testable import Training
import TestSupport

final class SFTStreamTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-sft-stream") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    var basePath: String { Fixtures.fixture("stablelm-tiny").path }

    func tokenizer(_ base: BaseCheckpoint) throws -> Tokenizer { try base.tokenizer() }

    func tokenize(_ tokenizer: Tokenizer) -> (InstructionRecord) -> SFTSequence {
        { record in
            let turn = record.turns[0]
            return SFTPacking.tokenize(SFTExample(segments: [.init("User: \(turn.user)\nAssistant:", trained: false), .init(" \(turn.assistant)", trained: true)]),
                                       tokenizer: tokenizer)
        }
    }

    func config(steps: Int) -> SFTConfig {
        var c = SFTConfig()
        c.steps = steps; c.microBatchSize = 2; c.contextLength = 32; c.warmupSteps = 1; c.seed = 5
        return c
    }

    func testDataWithinOneWindowTrainsExactlyAsWhenHeldWhole() throws {
        let file = scratch.appendingPathComponent("small.jsonl").path
        try (0..<40).map { #"{"instruction": "Say number \#($0).", "output": "Number \#($0) it is."}"# }
            .joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let withBadLine = scratch.appendingPathComponent("with-bad-line.jsonl").path
        try (try String(contentsOfFile: file, encoding: .utf8) + "\n{not json").write(toFile: withBadLine, atomically: true, encoding: .utf8)
        let base = try BaseCheckpoint(path: basePath)
        let tokenize = tokenize(try tokenizer(base))
        let held = try SFTRun(base: base, sequences: InstructionData.load(path: file).0.map(tokenize), padToken: 0, config: config(steps: 6))
        let streamed = try SFTRun(base: base, source: .instructions(files: [withBadLine], skipBadLines: true, tokenize: tokenize), padToken: 0, config: config(steps: 6))
        XCTAssertFalse(streamed.isStreamed)
        XCTAssertEqual(streamed.skippedLines.map(\.line), [41], "the bad line is passed over and reported")
        var a: [Float] = [], b: [Float] = []
        _ = try held.run(onStep: { a.append($0.loss) })
        _ = try streamed.run(onStep: { b.append($0.loss) })
        XCTAssertEqual(a, b)
        XCTAssertEqual(try held.validationLoss(), try streamed.validationLoss())
    }

    func testAHugeFileIsStreamedAWindowAtATime() throws {
        let file = scratch.appendingPathComponent("huge.jsonl").path
        try HayaiBinary.writeRepeating(#"{"instruction": "Name a colour of the sky.", "output": "Blue, on a clear day."}"# + "\n",
                                       bytes: 200 << 20, to: file)
        let base = try BaseCheckpoint(path: basePath)
        let clock = ContinuousClock()
        let start = clock.now
        var before = rusage(); getrusage(RUSAGE_SELF.rawValue, &before)
        let run = try SFTRun(base: base, source: .instructions(files: [file], skipBadLines: false, tokenize: tokenize(try tokenizer(base))),
                             padToken: 0, config: config(steps: 30), windowTokens: 2_000)
        XCTAssertTrue(run.isStreamed)
        var epochs: Set<Int> = []
        XCTAssertEqual(try run.run(onStep: { epochs.insert($0.epoch) }), 30, "30 steps cross several windows of ~100 examples")
        XCTAssertEqual(epochs, [1])
        var after = rusage(); getrusage(RUSAGE_SELF.rawValue, &after)
        XCTAssertLessThan(clock.now - start, .seconds(60), "training starts after one window, not after 200 MB")
        // Held whole, 200 MB of such lines are ~20 M tokens, several hundred MB of ids: the peak must not move by that.
        XCTAssertLessThan(Int(after.ru_maxrss - before.ru_maxrss) * 1024, 100 << 20)
        var c = config(steps: 1)
        c.steps = nil; c.epochs = 1
        let planned = try SFTRun(base: base, source: .instructions(files: [file], skipBadLines: false, tokenize: tokenize(try tokenizer(base))),
                                 padToken: 0, config: c, windowTokens: 2_000).plannedSteps
        XCTAssertGreaterThan(planned, 100_000, "an epoch's steps are estimated from the first window's share of the file")
    }

    func testAStreamedPassGoesOnToTheNextEpoch() throws {
        let file = scratch.appendingPathComponent("medium.jsonl").path
        try (0..<300).map { #"{"instruction": "Say number \#($0).", "output": "Number \#($0) it is."}"# }
            .joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let base = try BaseCheckpoint(path: basePath)
        let run = try SFTRun(base: base, source: .instructions(files: [file], skipBadLines: false, tokenize: tokenize(try tokenizer(base))),
                             padToken: 0, config: config(steps: 200), windowTokens: 1_000)
        XCTAssertTrue(run.isStreamed)
        var epochs: [Int] = []
        _ = try run.run(onStep: { epochs.append($0.epoch) })
        XCTAssertEqual(epochs.first, 1)
        XCTAssertGreaterThan(epochs.last ?? 0, 1, "a second pass over the file starts when the first ends")
        XCTAssertEqual(epochs, epochs.sorted())
    }
}
