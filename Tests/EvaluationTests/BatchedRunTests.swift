// Multiple-choice items scored in batches (RunOptions.batchItems: one packed forward per batch) give the
// unbatched path's scores item for item: on lm-eval's fixture task, on few-shot items whose contexts differ
// (so a batch holds distinct contexts), on multiple_inputs items (XWinograd), with 1 and 2 threads. And the
// run reports its throughput: items/s and prompt tokens/s from the items it scored.
import XCTest
import Inference
import TestSupport
@testable import Evaluation

final class BatchedRunTests: XCTestCase {
    static let fixtureTask = Fixtures.fixture("lmeval_tinymc").appendingPathComponent("tinymc.yaml").path
    static let evalsets = Fixtures.repoRoot.appendingPathComponent("evalsets")
    static let environment = ["HAYAI_DATA": Fixtures.shared.appendingPathComponent("data").path]

    func model(threads: Int) throws -> LocalLanguageModel {
        var runtime = RuntimeOptions()
        runtime.threads = threads
        return try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path, runtime: runtime)
    }

    func items(_ task: EvalTask, model: LanguageModel, batch: Int, limit: Int? = nil, shots: Int? = nil) throws -> (TaskResult, [ItemResult]) {
        var options = RunOptions(limit: limit, numFewshot: shots)
        options.batchItems = batch
        let sink = MemorySink()
        let result = try Runner(model: model, options: options).run(task, sink: sink)
        return (result, sink.results)
    }

    func assertSameItems(_ a: [ItemResult], _ b: [ItemResult], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.index), b.map(\.index), what, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.choices.map(\.text), y.choices.map(\.text), "\(what) item \(x.index)", file: file, line: line)
            XCTAssertEqual(x.choices.map(\.contextTokens), y.choices.map(\.contextTokens), "\(what) item \(x.index)", file: file, line: line)
            for (c, d) in zip(x.choices, y.choices) {
                XCTAssertEqual(c.logLikelihood, d.logLikelihood, accuracy: 1e-4, "\(what) item \(x.index) choice \(c.text)", file: file, line: line)
                XCTAssertEqual(c.isGreedy, d.isGreedy, "\(what) item \(x.index) choice \(c.text)", file: file, line: line)
            }
            XCTAssertEqual(x.metrics, y.metrics, "\(what) item \(x.index)", file: file, line: line)
        }
    }

    func testBatchedRunsScoreTheFixtureTaskAsUnbatchedAndAsLMEval() throws {
        let task = try EvalTask.load(path: Self.fixtureTask)
        for threads in [1, 2] {
            let lm = try model(threads: threads)
            let (one, unbatched) = try items(task, model: lm, batch: 1)
            for batch in [3, 10] {
                let (result, batched) = try items(task, model: lm, batch: batch)
                assertSameItems(batched, unbatched, "batch \(batch), \(threads) threads")
                XCTAssertEqual(result.metric("acc")!.value, one.metric("acc")!.value)
                XCTAssertEqual(result.metric("acc_norm")!.value, one.metric("acc_norm")!.value)
            }
        }
        // and the unbatched path is still lm-eval's (LMEvalFixtureTests pins the default, batched one)
        let expected = try Fixtures.json(Fixtures.fixture("lmeval_tinymc").appendingPathComponent("expected_lmeval.json")) as! [String: Any]
        let (_, unbatched) = try items(task, model: try model(threads: 2), batch: 1)
        for (item, exp) in zip(unbatched, expected["items"] as! [[String: Any]]) {
            for (choice, e) in zip(item.choices, exp["choices"] as! [[String: Any]]) {
                XCTAssertEqual(choice.logLikelihood, (e["lm_eval_loglikelihood"] as! NSNumber).doubleValue, accuracy: 1e-4)
            }
        }
    }

    func testABatchOfItemsWithDifferentFewShotContextsKeepsEachItemsScores() throws {
        // Two-shot items draw different examples: every item of a batch has its own context after the shared start.
        let task = try EvalTask.load(path: Self.evalsets.appendingPathComponent("hayai-mini-en.yaml").path)
        for threads in [1, 2] {
            let lm = try model(threads: threads)
            let (_, unbatched) = try items(task, model: lm, batch: 1, limit: 12, shots: 2)
            XCTAssertEqual(Set(unbatched.map(\.prompt)).count, 12, "the items' prompts differ")
            XCTAssertLessThan(unbatched.map { $0.promptTokens }.max()!, 256, "a batch of items packs within the model's context")
            let (_, batched) = try items(task, model: lm, batch: 6, limit: 12, shots: 2)
            assertSameItems(batched, unbatched, "two-shot, \(threads) threads")
        }
    }

    func testMultipleInputsItemsScoreTheSameInBatches() throws {
        let task = try EvalTask.load(path: Self.evalsets.appendingPathComponent("xwinograd-en.yaml").path, environment: Self.environment)
        XCTAssertTrue(task.multipleInputs)
        let lm = try model(threads: 2)
        let (_, unbatched) = try items(task, model: lm, batch: 1, limit: 6)
        let (_, batched) = try items(task, model: lm, batch: 4, limit: 6)
        assertSameItems(batched, unbatched, "xwinograd-en")
    }

    func testARunReportsItemsAndPromptTokensPerSecond() throws {
        let task = try EvalTask.load(path: Self.fixtureTask)
        let (result, scored) = try items(task, model: try model(threads: 2), batch: 4)
        let item = scored[0]
        // An ordinary item: its context once, then each choice's continuation.
        XCTAssertEqual(item.promptTokens, item.choices[0].contextTokens + item.choices.reduce(0) { $0 + $1.continuationTokens })
        let tokens = scored.reduce(0) { $0 + $1.promptTokens }
        XCTAssertGreaterThan(result.seconds, 0)
        XCTAssertEqual(result.itemsPerSecond, Double(scored.count) / result.seconds, accuracy: 1e-9 * result.itemsPerSecond)
        XCTAssertEqual(result.tokensPerSecond, Double(tokens) / result.seconds, accuracy: 1e-9 * result.tokensPerSecond)
        // Resumed items are not counted: all done before, nothing scored, no rate.
        let resumed = try Runner(model: try model(threads: 2)).run(task, sink: MemorySink(completed: scored))
        XCTAssertEqual(resumed.itemCount, 10)
        XCTAssertEqual(resumed.tokensPerSecond, 0)
    }
}
