// A pretraining run's life in the store through the one recorder: stopped, it is interrupted with
// its metrics kept; resumed from its checkpoint, the same run goes on and ends completed.
import XCTest
import Foundation
import RunStore
import Training
import TestSupport
@testable import Workbench

final class TrainRunTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-trainrun") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func config() -> PretrainConfig {
        var c = Presets.tiny
        c.hiddenSize = 32; c.numLayers = 2; c.numHeads = 4; c.numKVHeads = 2; c.intermediateSize = 48
        c.contextLength = 32; c.microBatchSize = 2; c.gradAccumulation = 1
        c.steps = 6; c.warmupSteps = 2; c.evalInterval = 3; c.evalBatches = 1; c.checkpointInterval = 3; c.keepCheckpoints = 0
        c.logInterval = 1; c.seed = 3
        return c
    }

    func testAStoppedRunIsInterruptedAndItsResumeCompletesTheSameRun() throws {
        let text = scratch.appendingPathComponent("corpus.txt")
        try (0..<60).map { "Paragraph \($0): a small model learns the shape of language. 小さな言語モデル \($0)。" }
            .joined(separator: "\n\n").write(to: text, atomically: true, encoding: .utf8)
        let data = try PretrainData.text(text.path, tokenizerFolder: Fixtures.fixture("stablelm-tiny").path)
        let store = try RunStore.open(workspace: scratch.appendingPathComponent("home"))
        let out = scratch.appendingPathComponent("out").path

        var options = PretrainOptions(out: out)
        options.measurePeak = false
        options.runName = "tiny"
        options.stopAfterStep = 3
        let first = try TrainRun(training: try PretrainRun(config: config(), data: data, options: options), store: store, model: out)
        XCTAssertEqual(try first.run(), .interrupted(step: 3))
        XCTAssertEqual(try store.requireRun(named: "tiny").status, .interrupted)
        XCTAssertEqual(try store.metrics(run: first.run).filter { $0.name == "train/loss" }.count, 3)
        guard case .object(let build)? = first.run.configValues["hayai"] else { return XCTFail(first.run.config) }
        XCTAssertEqual(build["version"], .string(BuildInfo.version))

        var again = PretrainOptions(out: out)
        again.measurePeak = false
        again.resume = true
        let second = try TrainRun(training: try PretrainRun(config: config(), data: data, options: again), store: store, model: out)
        XCTAssertEqual(second.run.name, "tiny", "the checkpoint's run goes on")
        XCTAssertEqual(try second.run(), .completed(step: 6))
        let run = try store.requireRun(named: "tiny")
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.summaryValues["steps"], 6)
        XCTAssertEqual(try store.metrics(run: run).filter { $0.name == "train/loss" }.count, 6)
        XCTAssertEqual(try store.runs(kind: .pretrain).count, 1)
    }
}
