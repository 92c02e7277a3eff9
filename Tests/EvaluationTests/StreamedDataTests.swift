// Eval data read lazily (issue 15): the one JSONL reader streams in chunks with true line numbers, `--limit` reads
// only the lines it needs, and a limited run draws exactly the few-shot examples a full run draws.
import XCTest
import Foundation
import Basics
@testable import Evaluation
import Inference
import TestSupport

final class StreamedDataTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-streamed-data") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }
    static let fixtureDir = Fixtures.fixture("lmeval_tinymc")

    func testLinesAcrossChunkBoundariesKeepTheirBytesAndEditorLineNumbers() throws {
        let long = String(repeating: "x", count: 50)
        let text = "one\r\n\n  \ntwo\n\(long)\nlast-without-newline"
        let path = scratch.appendingPathComponent("lines.jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        for chunk in [1, 3, 7, 64, 1 << 20] {
            var lines = try JSONLines.Lines(path: path, chunkSize: chunk)
            var got: [(String, Int)] = []
            while let line = try lines.next() { got.append((String(decoding: line, as: UTF8.self), lines.number)) }
            XCTAssertEqual(got.map(\.0), ["one", "", "  ", "two", long, "last-without-newline"], "chunk \(chunk)")
            XCTAssertEqual(got.map(\.1), [1, 2, 3, 4, 5, 6], "chunk \(chunk)")
            XCTAssertEqual(lines.offset, text.utf8.count)
        }
    }

    func testABadLineIsReportedWithItsLineNumberOrSkipped() throws {
        let path = scratch.appendingPathComponent("bad.jsonl").path
        try "{\"a\": 1}\n\n{oops\n{\"a\": 2}\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Dataset.load(path: path)) { XCTAssertTrue("\($0)".contains(path + ":3:"), "\($0)") }
        let skipped = try Dataset.load(path: path, skipBadLines: true)
        XCTAssertEqual(skipped.items.count, 2)
        XCTAssertEqual(skipped.skippedLines, [3])
        XCTAssertEqual(try Dataset.count(path: path, skipBadLines: true), 2)
        XCTAssertEqual(try Dataset.items(at: [1], path: path, skipBadLines: true)[1]?["a"], .int(2))
    }

    func testALimitReadsOnlyTheLinesItNeeds() throws {
        let path = scratch.appendingPathComponent("tail-garbage.jsonl").path
        try ((0..<3).map { "{\"i\": \($0)}" } + ["not json at all"]).joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Dataset.load(path: path, limit: 3).items.map { $0["i"] }, [.int(0), .int(1), .int(2)])
        XCTAssertThrowsError(try Dataset.load(path: path)) { XCTAssertTrue("\($0)".contains(path + ":4:"), "\($0)") }
    }

    /// Few-shot prefixes of the first `count` items as `runner` loads the task.
    func prefixes(_ task: EvalTask, runner: Runner, count: Int, shots: Int) throws -> [String] {
        let (data, pool, poolIsEvalSet) = try runner.loadData(task)
        return try (0..<count).map { try task.prefix(for: data.items[$0], item: $0, pool: pool, poolIsEvalSet: poolIsEvalSet, numFewshot: shots) }
    }

    func testALimitedRunDrawsTheSameFewShotExamplesAsAFullRun() throws {
        let model = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path)
        var task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        task.fewshotSeed = 7   // as Runner.run applies the options' seed before building prefixes
        for shots in [1, 3] {
            var full = RunOptions(numFewshot: shots), limited = RunOptions(limit: 4, numFewshot: shots)
            full.fewshotSeed = 7; limited.fewshotSeed = 7
            task.fewshotDataFile = nil
            let fromEvalSet = try prefixes(task, runner: Runner(model: model, options: limited), count: 4, shots: shots)
            XCTAssertEqual(fromEvalSet, try prefixes(task, runner: Runner(model: model, options: full), count: 4, shots: shots))
            XCTAssertTrue(fromEvalSet.allSatisfy { !$0.isEmpty })
            // A separate few-shot file: only the drawn items are read, the same ones.
            let poolFile = scratch.appendingPathComponent("pool.jsonl")
            try FileManager.default.copyItem(at: Self.fixtureDir.appendingPathComponent("tinymc.jsonl"), to: poolFile)
            task.fewshotDataFile = poolFile.path
            XCTAssertEqual(try prefixes(task, runner: Runner(model: model, options: limited), count: 4, shots: shots),
                           try prefixes(task, runner: Runner(model: model, options: full), count: 4, shots: shots))
            try FileManager.default.removeItem(at: poolFile)
        }
    }
}
