// A full disk during training is an ordinary error (issue 15). The store's file is made to fill up the way a full disk
// makes SQLite fail — its page limit lowered on the writer connection, so a write reports "database or disk is full" —
// and checkpoint writes fail through the loop's fault seam with ENOSPC's words.
import XCTest
import Foundation
import Basics
import Checkpoints
import GRDB
@testable import RunStore
import Training
import TestSupport
@testable import Workbench

final class DiskFullTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-diskfull") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func config(steps: Int = 12) -> PretrainConfig {
        var c = Presets.tiny
        c.hiddenSize = 32; c.numLayers = 2; c.numHeads = 4; c.numKVHeads = 2; c.intermediateSize = 48
        c.contextLength = 32; c.microBatchSize = 2; c.gradAccumulation = 1
        c.steps = steps; c.warmupSteps = 2; c.evalInterval = 0; c.evalBatches = 1; c.checkpointInterval = 100; c.keepCheckpoints = 0
        c.logInterval = 1; c.seed = 3
        return c
    }

    func data() throws -> PretrainData {
        let text = scratch.appendingPathComponent("corpus.txt")
        try (0..<60).map { "Paragraph \($0): a small model learns the shape of language. 小さな言語モデル \($0)。" }
            .joined(separator: "\n\n").write(to: text, atomically: true, encoding: .utf8)
        return try PretrainData.text(text.path, tokenizerFolder: Fixtures.fixture("stablelm-tiny").path)
    }

    /// Makes the store's file unable to grow: the next writes that need a page fail as on a full disk.
    func fillUp(_ store: RunStore) throws {
        try store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 1
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
    }

    func testAMetricWriteOnAFullDiskNamesTheFileAndSaysNoSpaceLeft() throws {
        let store = try RunStore.open(workspace: scratch.appendingPathComponent("home"))
        let recorder = try RunRecorder.create(store: store, kind: .pretrain, name: "full", model: nil, config: ["a": 1])
        try fillUp(store)
        var failure: Error?
        for step in 1...400 where failure == nil {
            do { try recorder.log(step: step, metrics: ["train/loss": Double(step), "lr": 0.1, "grad_norm": 1, "mfu": 0.2]) } catch { failure = error }
        }
        let message = "\(failure.map { "\($0)" } ?? "no failure")"
        XCTAssertTrue(message.contains(store.databaseURL.path) && message.contains("no space left"), message)
        XCTAssertFalse(message.contains("\n"))
        XCTAssertEqual(recorder.pendingMetrics.count, 1, "the failed point is kept to write later")
        // Space again: the kept point goes in first, then the new one.
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 1000000") }
        let failedStep = recorder.pendingMetrics[0].step
        try recorder.log(step: failedStep + 1, metrics: ["train/loss": 0])
        XCTAssertTrue(recorder.pendingMetrics.isEmpty)
        let steps = try store.metrics(run: recorder.run, name: "train/loss").map(\.step)
        XCTAssertEqual(steps, Array(1...(failedStep + 1)))
    }

    func testTrainingGoesOnWhenMetricWritesFailAndSavesACheckpointAtOnce() throws {
        let store = try RunStore.open(workspace: scratch.appendingPathComponent("home"))
        let out = scratch.appendingPathComponent("out").path
        var options = PretrainOptions(out: out)
        options.measurePeak = false
        options.runName = "full"
        let training = try TrainRun(training: try PretrainRun(config: config(steps: 60), data: data(), options: options), store: store, model: out)
        try fillUp(store)
        var messages: [String] = [], saved: [Int] = []
        var events = PretrainEvents()
        events.message = { messages.append($0) }
        events.checkpointSaved = { _, step in saved.append(step) }
        // The run trains to the end; what cannot be stored at the end is the one error.
        XCTAssertThrowsError(try training.run(events: events)) { error in
            XCTAssertTrue("\(error)".contains("no space left"), "\(error)")
        }
        XCTAssertEqual(messages.filter { $0.contains("no space left") && $0.contains("saving a checkpoint now") }.count, 1, "\(messages)")
        XCTAssertEqual(saved.count, 2, "one checkpoint when the store filled up, the final one at the end: \(saved)")
        XCTAssertLessThan(saved[0], 60)
        XCTAssertEqual(saved.last, 60)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        XCTAssertFalse(training.recorder.pendingMetrics.isEmpty)
    }

    func testACheckpointThatFailsTooEndsTheRunNamingTheLastGoodOne() throws {
        let store = try RunStore.open(workspace: scratch.appendingPathComponent("home"))
        let out = scratch.appendingPathComponent("out").path
        var c = config(steps: 40)
        c.checkpointInterval = 2
        var options = PretrainOptions(out: out)
        options.measurePeak = false
        options.runName = "full"
        var fail = false
        options.checkpointFault = { _, file in
            if fail && file == "model.safetensors" { throw CheckpointError.cannotWrite(path: file, reason: WriteFailure.reason(errno: ENOSPC)) }
        }
        let training = try TrainRun(training: try PretrainRun(config: c, data: data(), options: options), store: store, model: out)
        var events = PretrainEvents()
        events.checkpointSaved = { _, step in if step == 4 { fail = true } }
        XCTAssertThrowsError(try training.run(events: events)) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("no space left"), message)
            XCTAssertTrue(message.contains("the last good checkpoint is \(out)/step-4"), message)
            XCTAssertFalse(message.contains("\n"), message)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no staging folder is left behind")
    }
}
