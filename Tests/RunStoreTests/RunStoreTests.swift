// The run store within one process: runs, metrics, eval data, liveness, names, deletion.
import Foundation
import XCTest
@testable import RunStore
import TestSupport

final class RunStoreTests: XCTestCase {
    var workspace: URL!

    override func setUp() { workspace = Fixtures.temporaryDirectory("runstore") }
    override func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    func testCreateLogFinishRoundTrip() throws {
        let store = try RunStore.open(workspace: workspace)
        XCTAssertTrue(FileManager.default.fileExists(atPath: workspace.appendingPathComponent("hayai.sqlite").path))
        let run = try store.createRun(kind: .pretrain, name: "tiny", model: "runs/tiny", config: #"{"lr": 0.001, "layers": 2}"#)
        XCTAssertEqual(run.status, .running)
        XCTAssertEqual(run.pid, getpid())
        for step in 0..<5 {
            try store.log(run: run, step: step, tokens: step * 100, metrics: ["train/loss": 5 - Double(step), "lr": 0.001])
        }
        try store.log(run: run, step: 4, metrics: ["val/loss": 1.5])
        let finished = try store.finish(run: run, summary: ["val/bpb": 0.9])

        let reopened = try RunStore.open(workspace: workspace)
        let stored = try XCTUnwrap(try reopened.run(named: "tiny"))
        XCTAssertEqual(stored, finished)
        XCTAssertEqual(stored.status, .completed)
        XCTAssertNotNil(stored.endedAt)
        XCTAssertEqual(stored.model, "runs/tiny")
        XCTAssertEqual(stored.summaryValues, ["train/loss": 1, "lr": 0.001, "val/loss": 1.5, "val/bpb": 0.9])
        XCTAssertEqual(try reopened.metricNames(run: stored), ["lr", "train/loss", "val/loss"])
        let loss = try reopened.metrics(run: stored, name: "train/loss")
        XCTAssertEqual(loss.map(\.step), [0, 1, 2, 3, 4])
        XCTAssertEqual(loss.map(\.value), [5, 4, 3, 2, 1])
        XCTAssertEqual(loss.map(\.tokens), [0, 100, 200, 300, 400])
        XCTAssertEqual(try reopened.metrics(run: stored).count, 11)
    }

    func testEncodableConfigIsStoredAsSortedJSON() throws {
        struct Config: Encodable { var lr = 0.5; var name = "a/b"; var batch = 8 }
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .sft, config: Config(), parent: "base")
        XCTAssertEqual(run.config, #"{"batch":8,"lr":0.5,"name":"a/b"}"#)
        XCTAssertEqual(run.parent, "base")
        XCTAssertThrowsError(try store.createRun(kind: .sft, config: "[1, 2]"))
        XCTAssertThrowsError(try store.createRun(kind: .sft, config: "{oops"))
    }

    func testLoggingAStepAgainReplacesItsValue() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain)
        try store.log(run: run, step: 7, metrics: ["train/loss": 3])
        try store.log(run: run, step: 7, tokens: 70, metrics: ["train/loss": 2])
        let points = try store.metrics(run: run, name: "train/loss")
        XCTAssertEqual(points.count, 1)
        XCTAssertEqual(points[0].value, 2)
        XCTAssertEqual(points[0].tokens, 70)
    }

    func testNonFiniteValuesRoundTrip() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain)
        try store.log(run: run, step: 0, metrics: ["a": .nan, "b": .infinity, "c": -.infinity])
        let values = Dictionary(uniqueKeysWithValues: try store.metrics(run: run).map { ($0.name, $0.value) })
        XCTAssertTrue(values["a"]!.isNaN)
        XCTAssertEqual(values["b"], .infinity)
        XCTAssertEqual(values["c"], -.infinity)
        let finished = try store.finish(run: run, status: .failed)
        XCTAssertEqual(finished.summaryValues, [:], "JSON has no NaN or infinity: left out of the summary")
        XCTAssertEqual(finished.status, .failed)
    }

    func testGeneratedNamesAreUniqueWithinOneSecond() throws {
        let store = try RunStore.open(workspace: workspace)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let names = try (0..<3).map { _ in
            try store.createRun(kind: .pretrain, name: nil, model: nil, config: "{}", parent: nil, notes: nil,
                                pid: getpid(), host: Liveness.currentHost, now: now).name
        }
        XCTAssertEqual(Set(names).count, 3)
        XCTAssertTrue(names[0].hasPrefix("pretrain-"), names[0])
        XCTAssertEqual(names[0].count, "pretrain-20261125-193000".count)
        XCTAssertEqual(names[1], names[0] + "-2")
        XCTAssertEqual(names[2], names[0] + "-3")
    }

    func testGivenNamesMustBeUniqueAndSafe() throws {
        let store = try RunStore.open(workspace: workspace)
        _ = try store.createRun(kind: .eval, name: "my-eval_1.0")
        XCTAssertThrowsError(try store.createRun(kind: .eval, name: "my-eval_1.0")) { error in
            XCTAssertEqual(error as? RunStoreError, .nameTaken(name: "my-eval_1.0"))
        }
        for bad in ["", "../x", "a b", ".hidden", "-flag", String(repeating: "x", count: 101)] {
            XCTAssertThrowsError(try store.createRun(kind: .eval, name: bad), bad) { error in
                guard case .invalidName = error as? RunStoreError else { return XCTFail("\(error)") }
            }
        }
    }

    func testMarkInterruptedLeavesLiveRunsAlone() throws {
        let store = try RunStore.open(workspace: workspace)
        let host = Liveness.currentHost
        let now = Date()
        func make(_ name: String, pid: Int32, host: String, heartbeat: Date) throws {
            _ = try store.createRun(kind: .pretrain, name: name, model: nil, config: "{}", parent: nil, notes: nil,
                                    pid: pid, host: host, now: heartbeat)
        }
        try make("live-here", pid: getpid(), host: host, heartbeat: now)
        try make("dead-here", pid: Int32.max - 1, host: host, heartbeat: now)  // above any pid_max: never alive
        try make("live-elsewhere", pid: 1234, host: "other-host", heartbeat: now.addingTimeInterval(-60))
        try make("stale-elsewhere", pid: 1234, host: "other-host", heartbeat: now.addingTimeInterval(-3600))
        let finished = try store.createRun(kind: .eval, name: "done")
        try store.finish(run: finished)

        let marked = try store.markInterruptedRuns(now: now)
        XCTAssertEqual(Set(marked), ["dead-here", "stale-elsewhere"])
        XCTAssertEqual(try store.run(named: "live-here")?.status, .running)
        XCTAssertEqual(try store.run(named: "live-elsewhere")?.status, .running)
        XCTAssertEqual(try store.run(named: "done")?.status, .completed)
        let stale = try XCTUnwrap(try store.run(named: "stale-elsewhere"))
        XCTAssertEqual(stale.status, .interrupted)
        XCTAssertEqual(stale.endedAt!.timeIntervalSince1970, now.addingTimeInterval(-3600).timeIntervalSince1970, accuracy: 0.01)

        // Opening the store again marks nothing more.
        _ = try RunStore.open(workspace: workspace)
        XCTAssertEqual(try store.runs(status: .running).map(\.name).sorted(), ["live-elsewhere", "live-here"])
    }

    func testInterruptedRunRevivesWhenItsOwnProcessWritesAgain() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain, name: "paused")
        // As if the process had been stopped (^Z) past the stale limit.
        XCTAssertEqual(try store.markInterruptedRuns(staleAfter: 60, now: Date().addingTimeInterval(3600)), ["paused"])
        XCTAssertEqual(try store.run(named: "paused")?.status, .interrupted)
        try store.log(run: run, step: 1, metrics: ["train/loss": 1])
        let revived = try XCTUnwrap(try store.run(named: "paused"))
        XCTAssertEqual(revived.status, .running)
        XCTAssertNil(revived.endedAt)
    }

    func testResumeTakesOverAnInterruptedRun() throws {
        let store = try RunStore.open(workspace: workspace)
        _ = try store.createRun(kind: .eval, name: "ev", model: nil, config: "{}", parent: nil, notes: nil,
                                pid: Int32.max - 1, host: Liveness.currentHost, now: Date())
        _ = try RunStore.open(workspace: workspace)
        let interrupted = try store.requireRun(named: "ev")
        XCTAssertEqual(interrupted.status, .interrupted)
        let resumed = try store.resume(run: interrupted)
        XCTAssertEqual(resumed.status, .running)
        XCTAssertEqual(resumed.pid, getpid())
        XCTAssertNil(resumed.endedAt)
    }

    func testEvalItemsAreResumable() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .eval, name: "ev", model: "m")
        let items = (0..<5).map {
            EvalItem(task: "jcommonsenseqa", itemIndex: $0, doc: #"{"q": "?"}"#, prompt: "Q: ?\nA:", prediction: "a",
                     target: "b", scores: #"{"loglikelihoods": [-1.5, -2.25]}"#, correct: $0 % 2, metrics: #"{"acc": 0}"#)
        }
        try store.saveEvalItems(Array(items[0..<3]), run: run)
        try store.saveEvalItem(EvalItem(task: "other", itemIndex: 9), run: run)
        XCTAssertEqual(try store.completedItems(run: run, task: "jcommonsenseqa"), [0, 1, 2])
        XCTAssertEqual(try store.completedItems(run: run, task: "missing"), [])

        // The resumed eval writes the rest, and one of the first again.
        var again = items[1]
        again.prediction = "b"
        try store.saveEvalItems([again] + items[3...], run: run)
        let stored = try store.evalItems(run: run, task: "jcommonsenseqa")
        XCTAssertEqual(stored.map(\.itemIndex), [0, 1, 2, 3, 4])
        XCTAssertEqual(stored[1], again)
        XCTAssertEqual(stored[4], items[4])
        XCTAssertEqual(try store.evalItems(run: run, task: "other"), [EvalItem(task: "other", itemIndex: 9)])
    }

    func testEvalResultsRoundTrip() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .eval, name: "ev")
        let acc = EvalResult(task: "jcommonsenseqa", taskVersion: "1.1", promptVersion: "0.3", numFewshot: 3, fewshotSeed: 1234,
                             metric: "acc", value: 0.75, stderr: 0.01, n: 1119)
        let ppl = EvalResult(task: "wikitext", metric: "word_perplexity", value: .nan, n: 10)
        try store.saveEvalResults([ppl, acc], run: run)
        var results = try store.evalResults(run: run)
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results[0], acc)
        XCTAssertTrue(results[1].value.isNaN)
        try store.saveEvalResult(EvalResult(task: "jcommonsenseqa", numFewshot: 3, metric: "acc", value: 0.8, n: 1119), run: run)
        results = try store.evalResults(run: run)
        XCTAssertEqual(results.count, 2)
        XCTAssertEqual(results[0].value, 0.8)
        XCTAssertNil(results[0].stderr)
    }

    func testRunsFilters() throws {
        let store = try RunStore.open(workspace: workspace)
        let base = Date(timeIntervalSince1970: 1_795_000_000)
        for (i, (kind, name)) in [(RunKind.pretrain, "base_a"), (.sft, "chat-a"), (.eval, "eval-base_a"), (.pretrain, "base-b")].enumerated() {
            _ = try store.createRun(kind: kind, name: name, model: nil, config: "{}", parent: nil, notes: nil,
                                    pid: getpid(), host: Liveness.currentHost, now: base.addingTimeInterval(Double(i)))
        }
        try store.finish(run: try store.requireRun(named: "chat-a"))
        XCTAssertEqual(try store.runs().map(\.name), ["base-b", "eval-base_a", "chat-a", "base_a"], "newest first")
        XCTAssertEqual(try store.runs(kind: .pretrain).map(\.name), ["base-b", "base_a"])
        XCTAssertEqual(try store.runs(status: .completed).map(\.name), ["chat-a"])
        XCTAssertEqual(try store.runs(nameLike: "base_").map(\.name), ["eval-base_a", "base_a"], "'_' is literal in a substring")
        XCTAssertEqual(try store.runs(nameLike: "base%").map(\.name), ["base-b", "base_a"])
        XCTAssertEqual(try store.runs(limit: 1).map(\.name), ["base-b"])
    }

    func testDeleteRunRemovesItsDataAndRefusesLiveRuns() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .eval, name: "gone")
        try store.log(run: run, step: 0, metrics: ["x": 1])
        try store.saveEvalItem(EvalItem(task: "t", itemIndex: 0), run: run)
        try store.saveEvalResult(EvalResult(task: "t", metric: "acc", value: 1, n: 1), run: run)
        let kept = try store.createRun(kind: .eval, name: "kept")
        try store.log(run: kept, step: 0, metrics: ["x": 2])

        XCTAssertThrowsError(try store.deleteRun(named: "gone")) { error in
            guard case .runIsLive = error as? RunStoreError else { return XCTFail("\(error)") }
        }
        try store.finish(run: run)
        try store.deleteRun(named: "gone")
        XCTAssertNil(try store.run(named: "gone"))
        XCTAssertEqual(try store.metrics(run: run), [])
        XCTAssertEqual(try store.completedItems(run: run, task: "t"), [])
        XCTAssertEqual(try store.evalResults(run: run), [])
        XCTAssertEqual(try store.metrics(run: kept).count, 1)
        XCTAssertThrowsError(try store.deleteRun(named: "gone")) { error in
            XCTAssertEqual(error as? RunStoreError, .runNotFound(name: "gone"))
        }
        try store.deleteRun(named: "kept", force: true)
        XCTAssertEqual(try store.runs(), [])
    }

    func testMetricStats() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain)
        for (step, loss) in [3.0, 1.0, .nan, 2.0].enumerated() { try store.log(run: run, step: step * 10, metrics: ["loss": loss]) }
        let stats = try store.metricStats(run: run)
        XCTAssertEqual(stats, [MetricStats(name: "loss", count: 4, lastStep: 30, last: 2, min: 1, minStep: 10, max: 3)])
    }

    func testOpeningAFileThatIsNotADatabaseFailsWithItsPath() throws {
        try Data("this is not sqlite, just some text that is long enough to be a header....".utf8)
            .write(to: workspace.appendingPathComponent("hayai.sqlite"))
        XCTAssertThrowsError(try RunStore.open(workspace: workspace)) { error in
            guard case .cannotOpen(let path, _) = error as? RunStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("hayai.sqlite"), path)
        }
    }

    func testDefaultWorkspaceFollowsHayaiHome() {
        let home = ProcessInfo.processInfo.environment["HAYAI_HOME"]
        if let home, !home.isEmpty {
            XCTAssertEqual(RunStore.defaultWorkspace.path, URL(fileURLWithPath: home).path)
        } else {
            XCTAssertEqual(RunStore.defaultWorkspace.lastPathComponent, "hayai-runs")
        }
    }
}

final class HeartbeatTimerTests: XCTestCase {
    func testHeartbeatTimerKeepsTheRunFresh() throws {
        let workspace = Fixtures.temporaryDirectory("runstore-heartbeat")
        defer { try? FileManager.default.removeItem(at: workspace) }
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .eval, name: "slow")
        let timer = HeartbeatTimer(store: store, run: run, every: 0.05)
        let deadline = Date().addingTimeInterval(10)
        while try store.requireRun(named: "slow").heartbeatAt! <= run.heartbeatAt!, Date() < deadline { usleep(20_000) }
        timer.cancel()
        XCTAssertGreaterThan(try store.requireRun(named: "slow").heartbeatAt!, run.heartbeatAt!)
    }
}
