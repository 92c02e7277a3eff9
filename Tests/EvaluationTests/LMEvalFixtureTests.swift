// Pins our multiple-choice scoring to lm-evaluation-harness 0.4.13 on the fixture task
// (../shared/fixtures/lmeval_tinymc): token ids, per-choice log-likelihoods, acc, acc_norm, stderr.
import XCTest
import Inference
import TestSupport
@testable import Evaluation

final class LMEvalFixtureTests: XCTestCase {
    static let fixtureDir = Fixtures.fixture("lmeval_tinymc")
    static let model: LocalLanguageModel = try! LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path)

    struct ExpectedChoice { var context: [Int]; var continuation: [Int]; var ll: Double }

    func expected() throws -> (items: [[ExpectedChoice]], acc: Double, accNorm: Double, accStderr: Double, accNormStderr: Double) {
        let json = try Fixtures.json(Self.fixtureDir.appendingPathComponent("expected_lmeval.json")) as! [String: Any]
        let items = (json["items"] as! [[String: Any]]).map { item in
            (item["choices"] as! [[String: Any]]).map { c in
                ExpectedChoice(context: (c["context_ids"] as! [NSNumber]).map(\.intValue),
                               continuation: (c["continuation_ids"] as! [NSNumber]).map(\.intValue),
                               ll: (c["lm_eval_loglikelihood"] as! NSNumber).doubleValue)
            }
        }
        let r = (json["lm_eval_results"] as! [String: Any])["tinymc_bilingual"] as! [String: Any]
        func d(_ k: String) -> Double { (r[k] as! NSNumber).doubleValue }
        return (items, d("acc,none"), d("acc_norm,none"), d("acc_stderr,none"), d("acc_norm_stderr,none"))
    }

    func testFixtureTaskYAMLLoadsAsIs() throws {
        let task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        XCTAssertEqual(task.name, "tinymc_bilingual")
        XCTAssertEqual(task.outputType, .multipleChoice)
        XCTAssertEqual(task.dataFile, Self.fixtureDir.appendingPathComponent("tinymc.jsonl").path)
        XCTAssertEqual(task.metrics.map(\.name), ["acc", "acc_norm"])
        XCTAssertEqual(task.targetDelimiter, " ")
        XCTAssertEqual(task.version, "1.0")
    }

    func testRequestTokenizationMatchesLMEval() throws {
        let task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        let data = try Dataset.load(path: task.dataFile)
        let exp = try expected()
        for (i, doc) in data.items.enumerated() {
            let context = try task.text(doc, item: i)
            for (j, choice) in try task.choices(doc, item: i).enumerated() {
                let r = RequestEncoding.encode(context: context, continuation: task.targetDelimiter + choice, tokenizer: Self.model.tokenizer)
                XCTAssertEqual(r.context, exp.items[i][j].context, "item \(i) choice \(j) context")
                XCTAssertEqual(r.continuation, exp.items[i][j].continuation, "item \(i) choice \(j) continuation")
            }
        }
    }

    func testLogLikelihoodsAccAndAccNormMatchLMEval() throws {
        let task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        let sink = MemorySink()
        let result = try Runner(model: Self.model).run(task, sink: sink)
        let exp = try expected()
        XCTAssertEqual(sink.results.count, 10)
        for item in sink.results {
            for (j, choice) in item.choices.enumerated() {
                XCTAssertEqual(choice.logLikelihood, exp.items[item.index][j].ll, accuracy: 1e-4, "item \(item.index) choice \(j)")
            }
        }
        XCTAssertEqual(result.metric("acc")!.value, exp.acc, accuracy: 1e-12)
        XCTAssertEqual(result.metric("acc_norm")!.value, exp.accNorm, accuracy: 1e-12)
        XCTAssertEqual(result.metric("acc")!.stderr!, exp.accStderr, accuracy: 1e-9)
        XCTAssertEqual(result.metric("acc_norm")!.stderr!, exp.accNormStderr, accuracy: 1e-9)
    }

    func testNoReuseModeGivesTheSameScores() throws {
        let task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        var options = RunOptions(limit: 3)
        let a = MemorySink(), b = MemorySink()
        _ = try Runner(model: Self.model, options: options).run(task, sink: a)
        options.reuseContext = false
        _ = try Runner(model: Self.model, options: options).run(task, sink: b)
        for (x, y) in zip(a.results, b.results) {
            for (c, d) in zip(x.choices, y.choices) { XCTAssertEqual(c.logLikelihood, d.logLikelihood, accuracy: 1e-4) }
        }
    }

    func testResumeSkipsCompletedItemsAndKeepsThemInTheAggregate() throws {
        let task = try EvalTask.load(path: Self.fixtureDir.appendingPathComponent("tinymc.yaml").path)
        let first = MemorySink()
        _ = try Runner(model: Self.model, options: RunOptions(limit: 4)).run(task, sink: first)
        let resumed = MemorySink(completed: first.results)
        var progressCalls = 0
        let result = try Runner(model: Self.model).run(task, sink: resumed) { p in
            progressCalls += 1
            XCTAssertEqual(p.total, 10)
        }
        XCTAssertEqual(resumed.recorded.count, 6)
        XCTAssertEqual(progressCalls, 6)
        XCTAssertEqual(result.itemCount, 10)
        XCTAssertEqual(result.metric("acc")!.value, 0.4, accuracy: 1e-12)
    }
}
