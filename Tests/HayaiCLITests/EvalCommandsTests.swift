// `hayai eval` and `hayai compare` as a user runs them: scores equal lm-evaluation-harness's on the
// fixture task, results land in the store, an eval resumes, and bad task data gives one-line errors.
import XCTest
import Foundation
import TestSupport

final class EvalCommandsTests: XCTestCase {
    var home: URL!
    override func setUp() { home = Fixtures.temporaryDirectory("hayai-eval-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: home) }

    var environment: [String: String] { ["HAYAI_DATA": Fixtures.data("").path, "HAYAI_EVALSETS": Fixtures.repoRoot.appendingPathComponent("evalsets").path] }

    func run(_ args: [String]) throws -> CommandResult {
        try HayaiBinary.run(args + ["--home", home.path], environment: environment)
    }

    func json(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    func metric(_ out: [String: Any], task: String, _ name: String) -> Double? {
        let tasks = out["tasks"] as? [[String: Any]] ?? []
        let metrics = tasks.first { $0["task"] as? String == task }?["metrics"] as? [[String: Any]] ?? []
        return metrics.first { $0["name"] as? String == name }?["value"] as? Double
    }

    func testFixtureTaskScoresLikeLmEvaluationHarness() throws {
        let yaml = Fixtures.fixture("lmeval_tinymc/tinymc.yaml").path
        let r = try run(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", yaml, "--json", "--name", "tiny-mc"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try json(r.stdout)
        XCTAssertEqual(out["run"] as? String, "tiny-mc")
        XCTAssertEqual(try XCTUnwrap(metric(out, task: "tinymc_bilingual", "acc")), 0.4, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(metric(out, task: "tinymc_bilingual", "acc_norm")), 0.4, accuracy: 1e-9)
        let show = try run(["runs", "show", "tiny-mc", "--json"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("tinymc_bilingual"), show.stdout)
    }

    func testResumeNeedsOnlyTheNameAndRefusesOtherSettings() throws {
        let model = Fixtures.fixture("stablelm-tiny").path
        let first = try run(["eval", model, "--tasks", "hayai-mini-en", "--limit", "4", "--name", "mini"])
        XCTAssertEqual(first.status, 0, first.stderr)
        // Another limit, another model, other tasks: each refused in one line, the stored run untouched.
        let limit = try run(["eval", model, "--tasks", "hayai-mini-en", "--limit", "10", "--resume", "mini"])
        XCTAssertEqual(limit.status, 1, limit.stderr)
        XCTAssertTrue(limit.stderr.contains("cannot resume mini: its --limit was 4, now 10"), limit.stderr)
        let other = try run(["eval", Fixtures.fixture("gptneox-tiny").path, "--resume", "mini"])
        XCTAssertEqual(other.status, 1, other.stderr)
        XCTAssertTrue(other.stderr.contains("cannot resume mini: its model was"), other.stderr)
        let tasks = try run(["eval", "--tasks", "hayai-mini-ja", "--resume", "mini"])
        XCTAssertEqual(tasks.status, 1, tasks.stderr)
        XCTAssertTrue(tasks.stderr.contains("its tasks was hayai-mini-en, now hayai-mini-ja"), tasks.stderr)
        // --resume NAME alone: model, tasks and limit come from the store; nothing is scored again.
        let resumed = try run(["eval", "--resume", "mini", "--json"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let task = try XCTUnwrap((try json(resumed.stdout)["tasks"] as? [[String: Any]])?.first)
        XCTAssertEqual(task["itemCount"] as? Int, 4)
        XCTAssertEqual(task["itemsPerSecond"] as? Double, 0, "every item came from the store")
    }

    func testCompareUsesPairedItemsOnlyAndIsStored() throws {
        let model = Fixtures.fixture("stablelm-tiny").path
        XCTAssertEqual(try run(["eval", model, "--tasks", "hayai-mini-en", "--limit", "4", "--name", "mini"]).status, 0)
        let other = try run(["eval", Fixtures.fixture("gptneox-tiny").path, "--tasks", "hayai-mini-en", "--limit", "10", "--name", "mini-neox"])
        XCTAssertEqual(other.status, 0, other.stderr)
        let compare = try run(["compare", "mini", "mini-neox", "--json", "--name", "mini-vs-neox"])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        let rows = try json(compare.stdout)["tasks"] as! [[String: Any]]
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0]["items"] as? Int, 4, "only the 4 items both runs scored pair")
        XCTAssertEqual(rows[0]["unpairedA"] as? Int, 0)
        XCTAssertEqual(rows[0]["unpairedB"] as? Int, 6)
        let acc = (rows[0]["metrics"] as! [[String: Any]]).first { $0["metric"] as? String == "acc" }!
        XCTAssertNotNil(acc["lower"]); XCTAssertNotNil(acc["upper"]); XCTAssertNotNil(acc["mcnemarP"])
        XCTAssertEqual(acc["difference"] as! Double, (acc["b"] as! Double) - (acc["a"] as! Double), accuracy: 1e-12)
        // B's column is over the same 4 items, not its 10: a multiple of 1/4.
        let b = acc["b"] as! Double
        XCTAssertEqual(b * 4, (b * 4).rounded(), accuracy: 1e-9, "B is averaged over the paired items: \(b)")
        let text = try run(["compare", "mini", "mini-neox"])
        XCTAssertTrue(text.stdout.contains("95% CI"), text.stdout)
        XCTAssertTrue(text.stdout.contains("0 of A and 6 of B have no partner"), text.stdout)
        let shown = try run(["runs", "show", "mini-vs-neox", "--json"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("compare"), shown.stdout)
    }

    func testTwoPromptVersionsOfATaskAreStoredApart() throws {
        let r = try run(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", "jcommonsenseqa-0.2,jcommonsenseqa-0.3",
                         "--limit", "3", "--json", "--name", "two-versions"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let tasks = try json(r.stdout)["tasks"] as! [[String: Any]]
        XCTAssertEqual(tasks.compactMap { $0["task"] as? String }, ["jcommonsenseqa-0.2", "jcommonsenseqa-0.3"])
        for t in tasks { XCTAssertGreaterThan(t["itemsPerSecond"] as? Double ?? 0, 0, "\(t["task"]!) was scored, not taken from the other version") }
    }

    func testARelativeDataFolderIsReadFromTheCurrentDirectory() throws {
        // `${HAYAI_DATA}` is expanded inside task files that live elsewhere: a relative value must still work.
        let r = try HayaiBinary.run(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", "jcommonsenseqa-0.2", "--limit", "2",
                                     "--home", home.path],
                                    environment: ["HAYAI_DATA": "data", "HAYAI_EVALSETS": Fixtures.repoRoot.appendingPathComponent("evalsets").path],
                                    currentDirectory: Fixtures.shared)
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func testAGroupScoresItsTasksAndWritesLMEvalFilesThatRunsExportRepeats() throws {
        let out = home.appendingPathComponent("lm-eval/results.json")
        let r = try run(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", "hayai-mini", "--limit", "8", "--name", "mini",
                         "--output", out.path, "--log-samples"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let file = try Fixtures.json(out) as! [String: Any]
        let results = file["results"] as! [String: [String: Any]]
        let en = results["hayai_mini_en"]!, ja = results["hayai_mini_ja"]!, group = (file["groups"] as! [String: [String: Any]])["hayai-mini"]!
        for metric in ["acc,none", "acc_norm,none"] {
            let expected = ((en[metric] as! Double) * 8 + (ja[metric] as! Double) * 8) / 16
            XCTAssertEqual(group[metric] as! Double, expected, accuracy: 1e-12, metric)
            XCTAssertEqual(results["hayai-mini"]![metric] as! Double, expected, accuracy: 1e-12, metric)
            // The printed table shows the group's score too.
            let row = r.stdout.split(separator: "\n").first { $0.hasPrefix("hayai-mini (group)") && $0.contains(" \(metric.dropLast(5)) ") }
            XCTAssertTrue(row?.contains(String(format: "%.4f", expected)) == true, r.stdout)
        }
        XCTAssertEqual((file["group_subtasks"] as! [String: [String]])["hayai-mini"], ["hayai_mini_en", "hayai_mini_ja"])
        XCTAssertEqual(en["alias"] as? String, " - hayai_mini_en")
        XCTAssertEqual((file["n-samples"] as! [String: [String: Int]])["hayai_mini_ja"], ["original": 40, "effective": 8])
        for task in ["hayai_mini_en", "hayai_mini_ja"] {
            let samples = try String(contentsOf: out.deletingLastPathComponent().appendingPathComponent("samples_\(task).jsonl"), encoding: .utf8)
            XCTAssertEqual(samples.split(separator: "\n").count, 8, task)
        }

        let exported = home.appendingPathComponent("exported")
        let again = try run(["runs", "export", "mini", "--format", "lm-eval", "--out", exported.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        let second = try Fixtures.json(exported.appendingPathComponent("results.json")) as! [String: Any]
        XCTAssertEqual(NSDictionary(dictionary: second["results"] as! [String: Any]), NSDictionary(dictionary: file["results"] as! [String: Any]))
        XCTAssertEqual(NSDictionary(dictionary: second["task_hashes"] as! [String: Any]), NSDictionary(dictionary: file["task_hashes"] as! [String: Any]))
        XCTAssertEqual(try String(contentsOf: exported.appendingPathComponent("samples_hayai_mini_en.jsonl"), encoding: .utf8),
                       try String(contentsOf: out.deletingLastPathComponent().appendingPathComponent("samples_hayai_mini_en.jsonl"), encoding: .utf8))

        let alone = try run(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", "hayai-mini-en", "--log-samples"])
        XCTAssertEqual(alone.status, 64, alone.stderr)
        XCTAssertTrue(alone.stderr.contains("--log-samples writes beside the results file: give --output FILE too"), alone.stderr)
        let notEval = try run(["runs", "export", "compare-none", "--format", "lm-eval"])
        XCTAssertEqual(notEval.status, 1, notEval.stderr)
    }

    func testBadTaskInputGivesOneLineErrors() throws {
        let model = Fixtures.fixture("stablelm-tiny").path
        let unknown = try run(["eval", model, "--tasks", "no-such-task"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no-such-task: ") && unknown.stderr.contains("hayai-mini-en"), unknown.stderr)

        let dir = Fixtures.temporaryDirectory("hayai-eval-bad")
        let data = dir.appendingPathComponent("items.jsonl")
        try """
        {"question": "Q1?", "choices": ["a", "b"], "label": 0}
        {"question": "Q2?", "choices": ["a", "b"], "label": 
        {"question": "Q3?", "choices": ["a", "b"], "label": 1}
        """.write(to: data, atomically: true, encoding: .utf8)
        let yaml = dir.appendingPathComponent("task.yaml")
        try """
        task: bad_mc
        data_file: items.jsonl
        output_type: multiple_choice
        doc_to_text: "{{question}}"
        doc_to_choice: choices
        doc_to_target: label
        metric_list:
          - metric: acc
        """.write(to: yaml, atomically: true, encoding: .utf8)
        let bad = try run(["eval", model, "--tasks", yaml.path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("items.jsonl") && bad.stderr.contains("2"), bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").filter { $0.hasPrefix("Error") }.count, 1, bad.stderr)
        let skipped = try run(["eval", model, "--tasks", yaml.path, "--skip-bad-lines", "--json"])
        XCTAssertEqual(skipped.status, 0, skipped.stderr)
        XCTAssertEqual((try json(skipped.stdout)["tasks"] as! [[String: Any]])[0]["itemCount"] as? Int, 2)

        try "task: broken\noutput_type: multiple_choice\n".write(to: yaml, atomically: true, encoding: .utf8)
        let broken = try run(["eval", model, "--tasks", yaml.path])
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.stderr.contains(yaml.path), broken.stderr)
    }
}

/// The real SmolLM2-135M-Instruct GGUF on the JGLUE and XWinograd suites (a few items each), through the CLI.
final class SmolLM2EvalTests: XCTestCase {
    func testJapaneseAndEnglishSuitesRunOnARealModel() throws {
        let model: String
        do { model = try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip(e.description) }
            throw e
        }
        let home = Fixtures.temporaryDirectory("hayai-eval-smol")
        defer { try? FileManager.default.removeItem(at: home) }
        let env = ["HAYAI_DATA": Fixtures.data("").path]
        let tasks = "jcommonsenseqa-0.3,jnli-0.3,xwinograd-ja,xwinograd-en,jsquad-0.3"
        let r = try HayaiBinary.run(["eval", model, "--tasks", tasks, "--limit", "4", "--json", "--home", home.path, "--name", "smol"],
                                    environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let results = out["tasks"] as! [[String: Any]]
        XCTAssertEqual(results.compactMap { $0["task"] as? String },
                       ["jcommonsenseqa-0.3", "jnli-0.3", "xwinograd_ja", "xwinograd_en", "jsquad-0.3"])
        for t in results {
            let metrics = t["metrics"] as! [[String: Any]]
            XCTAssertFalse(metrics.isEmpty)
            for m in metrics { XCTAssertTrue((m["value"] as? Double)?.isFinite ?? false, "\(t["task"]!) \(m)") }
        }
        let show = try HayaiBinary.run(["runs", "show", "smol", "--home", home.path])
        XCTAssertTrue(show.stdout.contains("jsquad-0.3"), show.stdout)
    }
}
