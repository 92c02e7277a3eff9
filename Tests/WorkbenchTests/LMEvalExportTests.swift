// lm-evaluation-harness-shaped output: an eval run of the tinymc fixture written as results.json and
// samples_TASK.jsonl matches what lm-eval 0.4.13 wrote for the same task and model
// (../shared/fixtures/lmeval_tinymc) key for key, floats within 1e-4, hashes exactly. Only the
// fields named below may differ (they describe the machine, the date, the model's path or the
// harness itself); every other expected key must be there with its value, and hayai adds only the
// keys named below.
import XCTest
import Foundation
import Evaluation
import Inference
import RunStore
import TestSupport
@testable import Workbench

final class LMEvalExportTests: XCTestCase {
    var home: URL!
    override func setUp() { home = Fixtures.temporaryDirectory("hayai-lmeval") }
    override func tearDown() { try? FileManager.default.removeItem(at: home) }

    static let fixture = Fixtures.fixture("lmeval_tinymc")

    /// Results fields that legitimately differ from the fixture's (absent or other values).
    static let resultsDiffering: Set<String> = [
        "date", "pretty_env_info", "transformers_version", "lm_eval_version", "git_hash", "total_evaluation_time_seconds",
        "model_source", "model_name", "model_name_sanitized",
        "config.model", "config.model_args", "config.model_dtype", "config.model_revision", "config.model_sha",
        // hayai bootstraps with 100 resamples, has no Python/NumPy/torch seeds, and draws few-shot examples with its own seed.
        "config.bootstrap_iters", "config.random_seed", "config.numpy_seed", "config.torch_seed", "config.fewshot_seed",
        "configs.tinymc_bilingual.metadata.pretrained", "configs.tinymc_bilingual.metadata.dtype",
    ]
    /// Keys hayai adds to the results file.
    static let resultsAdded: Set<String> = [
        "hayai_version", "config.model_hash", "config.num_fewshot", "config.reuse_context", "config.hayai_version",
        "config.hayai_build", "config.run",
    ]

    func exportedRun(logSamples: Bool = true) throws -> (results: [String: Any], samples: [[String: Any]], store: RunStore, run: Run) {
        let store = try RunStore.open(workspace: home)
        let taskPath = Self.fixture.appendingPathComponent("tinymc.yaml").path
        let model = Fixtures.fixture("stablelm-tiny").path
        let evalRun = try EvalRun.create(store: store, config: EvalRunConfig(model: model, tasks: [taskPath]),
                                         tasks: [try EvalSets.load(taskPath)], name: "tinymc")
        _ = try evalRun.run(model: LocalLanguageModel(path: model))
        let run = try store.requireRun(named: "tinymc")
        let out = home.appendingPathComponent("out/results.json").path
        let written = try LMEvalExport.write(store: store, run: run, resultsPath: out, logSamples: logSamples)
        let results = try Fixtures.json(URL(fileURLWithPath: written.results)) as! [String: Any]
        var samples: [[String: Any]] = []
        if logSamples {
            XCTAssertEqual(written.samples.map { ($0 as NSString).lastPathComponent }, ["samples_tinymc_bilingual.jsonl"])
            samples = try String(contentsOfFile: written.samples[0], encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        return (results, samples, store, run)
    }

    func testResultsFileMatchesLMEvalKeyForKey() throws {
        let mine = try exportedRun(logSamples: false).results
        let theirs = try Fixtures.json(Self.fixture.appendingPathComponent("lm_eval_results.json")) as! [String: Any]
        var problems: [String] = []
        compare(theirs, mine, path: "", skipping: Self.resultsDiffering, added: Self.resultsAdded, problems: &problems)
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
        // The fields that may differ are there in hayai's own terms.
        let config = mine["config"] as! [String: Any]
        XCTAssertEqual(config["model_num_parameters"] as? Int, 356992)
        XCTAssertEqual(config["hayai_version"] as? String, BuildInfo.version)
        XCTAssertEqual(config["model_hash"] as? String, try ModelIdentity.contentHash(path: Fixtures.fixture("stablelm-tiny").path))
    }

    func testSamplesMatchLMEvalLineForLineWithItsHashes() throws {
        let mine = try exportedRun().samples
        let theirs = try String(contentsOf: Self.fixture.appendingPathComponent("lm_eval_samples.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(mine.count, theirs.count)
        var problems: [String] = []
        for (i, (t, m)) in zip(theirs, mine).enumerated() {
            compare(t, m, path: "[\(i)]", skipping: [], added: [], problems: &problems)
        }
        XCTAssertEqual(problems, [], problems.joined(separator: "\n"))
    }

    func testExportingTheStoredRunAgainGivesTheSameFiles() throws {
        let (first, samples, store, run) = try exportedRun()
        let again = home.appendingPathComponent("again/results.json").path
        let written = try LMEvalExport.write(store: store, run: run, resultsPath: again, logSamples: true)
        let second = try Fixtures.json(URL(fileURLWithPath: again)) as! [String: Any]
        XCTAssertEqual(NSDictionary(dictionary: first), NSDictionary(dictionary: second))
        let lines = try String(contentsOfFile: written.samples[0], encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, samples.count)
    }

    func testGenerationPartialScoringAndPerplexitySamplesHaveLMEvalsShapes() throws {
        setenv("HAYAI_DATA", Fixtures.data("").path, 1)
        let store = try RunStore.open(workspace: home)
        let evalsets = Fixtures.repoRoot.appendingPathComponent("evalsets").path
        let names = ["jsquad-0.2", "xwinograd-en", "perplexity"]
        let model = Fixtures.fixture("stablelm-tiny").path
        let evalRun = try EvalRun.create(store: store, config: EvalRunConfig(model: model, tasks: names, limit: 2, numFewshot: 0),
                                         tasks: try names.map { try EvalSets.load($0, folder: evalsets) }, name: "shapes")
        _ = try evalRun.run(model: LocalLanguageModel(path: model))
        let written = try LMEvalExport.write(store: store, run: try store.requireRun(named: "shapes"),
                                             resultsPath: home.appendingPathComponent("shapes/results.json").path, logSamples: true, evalsets: evalsets)
        func samples(_ task: String) throws -> [[String: Any]] {
            let path = try XCTUnwrap(written.samples.first { $0.hasSuffix("samples_\(task).jsonl") }, task)
            return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
                try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
            }
        }
        func args(_ s: [String: Any], _ i: Int) -> [String: Any] { (s["arguments"] as! [String: Any])["gen_args_\(i)"] as! [String: Any] }

        // Generation: one request (prompt, generation kwargs), the text as response, the references' str() as target.
        for s in try samples("jsquad-0.2") {
            let request = args(s, 0), kwargs = request["arg_1"] as! [String: Any]
            XCTAssertEqual(kwargs["do_sample"] as? Bool, false)
            XCTAssertEqual(kwargs["until"] as? [String], ["\n"])
            let text = (s["filtered_resps"] as! [String])[0]
            XCTAssertEqual((s["resps"] as! [[String]])[0][0], text)
            XCTAssertEqual(s["prompt_hash"] as? String, SHA256.hex(request["arg_0"] as! String))
            XCTAssertTrue((s["target"] as! String).hasPrefix("['"), "str() of the answers list: \(s["target"]!)")
            XCTAssertEqual(s["target_hash"] as? String, SHA256.hex(s["target"] as! String))
            XCTAssertNotNil(s["jsquad_exact_match"] as? Double); XCTAssertNotNil(s["jsquad_char_f1"] as? Double)
        }
        // Partial scoring: a context per choice (the sentence up to the blank, filled), one shared continuation.
        for s in try samples("xwinograd_en") {
            let doc = s["doc"] as! [String: Any], sentence = doc["sentence"] as! String
            let blank = sentence.range(of: "_")!
            XCTAssertEqual(args(s, 0)["arg_0"] as? String, String(sentence[..<blank.lowerBound]) + (doc["option1"] as! String))
            XCTAssertEqual(args(s, 1)["arg_0"] as? String, String(sentence[..<blank.lowerBound]) + (doc["option2"] as! String))
            XCTAssertEqual(args(s, 0)["arg_1"] as? String, " " + (s["target"] as! String))
            XCTAssertEqual(s["prompt_hash"] as? String, SHA256.hex(args(s, 0)["arg_0"] as! String))
        }
        // Rolling log-likelihood: the text as the one argument, (loglikelihood, words or bytes) per metric.
        for s in try samples("perplexity") {
            let ll = Double((s["filtered_resps"] as! [String])[0])!
            XCTAssertLessThan(ll, 0)
            let words = s["word_perplexity"] as! [Double], bytes = s["bits_per_byte"] as! [Double]
            XCTAssertEqual(words[0], ll, accuracy: 1e-9); XCTAssertEqual(bytes[0], ll, accuracy: 1e-9)
            XCTAssertEqual(Int(bytes[1]), (args(s, 0)["arg_0"] as! String).utf8.count)
        }
        let results = try Fixtures.json(URL(fileURLWithPath: written.results)) as! [String: Any]
        let perplexity = (results["results"] as! [String: [String: Any]])["perplexity"]!
        XCTAssertEqual(perplexity["word_perplexity_stderr,none"] as? String, "N/A")
        XCTAssertEqual((results["configs"] as! [String: [String: Any]])["jsquad-0.2"]?["num_fewshot"] as? Int, 0)
    }

    /// Every key of `expected` must be in `actual` with an equal value (numbers, and strings holding
    /// numbers, within 1e-4), except the `skipping` paths; `actual` may add only the `added` paths.
    func compare(_ expected: Any, _ actual: Any?, path: String, skipping: Set<String>, added: Set<String>, problems: inout [String]) {
        if skipping.contains(path) { return }
        guard let actual else { problems.append("\(path): missing"); return }
        switch (expected, actual) {
        case (let e as [String: Any], let a as [String: Any]):
            for (k, v) in e { compare(v, a[k], path: path.isEmpty ? k : "\(path).\(k)", skipping: skipping, added: added, problems: &problems) }
            for k in a.keys where e[k] == nil {
                let p = path.isEmpty ? k : "\(path).\(k)"
                if !added.contains(p) && !skipping.contains(p) { problems.append("\(p): not in lm-eval's file") }
            }
        case (let e as [Any], let a as [Any]):
            guard e.count == a.count else { problems.append("\(path): \(a.count) elements, expected \(e.count)"); return }
            for (i, (x, y)) in zip(e, a).enumerated() { compare(x, y, path: "\(path)[\(i)]", skipping: skipping, added: added, problems: &problems) }
        case (let e as NSNumber, let a as NSNumber):
            if abs(e.doubleValue - a.doubleValue) > 1e-4 { problems.append("\(path): \(a), expected \(e)") }
        case (let e as String, let a as String):
            if e == a { return }
            if let x = Double(e), let y = Double(a), abs(x - y) <= 1e-4 { return }
            problems.append("\(path): \(a.debugDescription), expected \(e.debugDescription)")
        case (is NSNull, is NSNull):
            return
        default:
            problems.append("\(path): \(actual), expected \(expected)")
        }
    }
}
