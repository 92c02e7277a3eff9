// Eval runs through the workbench layer, as `hayai eval` drives them: an interrupted run keeps its
// items and resumes from the store with its name alone; a resume refuses another model (by content,
// not path), another limit or a changed task; a task's own `task:` name finds its file.
import XCTest
import Foundation
import Evaluation
import Inference
import Kernels
import RunStore
import TestSupport
import Tokenizers
@testable import Workbench

/// A model that raises the interrupt flag (as Ctrl-C would) after `after` scoring calls.
final class InterruptingModel: LanguageModel {
    let inner: LanguageModel
    var calls = 0
    let after: Int
    init(_ inner: LanguageModel, after: Int) { self.inner = inner; self.after = after }
    var name: String { inner.name }
    var tokenizer: Tokenizer { inner.tokenizer }
    var contextLength: Int { inner.contextLength }
    func score(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore] {
        calls += 1
        if calls > after { Interrupt.request() }
        return try inner.score(context: context, continuations: continuations)
    }
    func generate(prompt: [Int], options: GenerationOptions, onText: (String) -> Bool) throws -> GenerationResult {
        try inner.generate(prompt: prompt, options: options, onText: onText)
    }
}

final class EvalRunTests: XCTestCase {
    var home: URL!
    override func setUp() { home = Fixtures.temporaryDirectory("hayai-workbench"); Interrupt.clear() }
    override func tearDown() { Interrupt.clear(); try? FileManager.default.removeItem(at: home) }

    static let evalsets = Fixtures.repoRoot.appendingPathComponent("evalsets").path
    func task(_ name: String) throws -> EvalTask { try EvalSets.load(name, folder: Self.evalsets) }

    /// A copy of the tiny fixture model (so a test may change its files).
    func modelCopy() throws -> String {
        let copy = home.appendingPathComponent("model")
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny"), to: copy)
        return copy.path
    }

    func testAnInterruptedRunKeepsItsItemsAndResumesWithItsNameAlone() throws {
        let store = try RunStore.open(workspace: home)
        let path = try modelCopy()
        let config = EvalRunConfig(model: path, tasks: ["hayai-mini-en"], limit: 10)
        let first = try EvalRun.create(store: store, config: config, tasks: [try task("hayai-mini-en")], name: "mini")
        let model = try LocalLanguageModel(path: path)
        XCTAssertThrowsError(try first.run(model: InterruptingModel(model, after: 3))) { error in
            let stopped = error as? EvalInterrupted
            XCTAssertNotNil(stopped, "\(error)")
            XCTAssertEqual(stopped?.storedItems, 3)
            XCTAssertTrue("\(error)".contains("hayai eval --resume mini"), "\(error)")
        }
        XCTAssertEqual(try store.requireRun(named: "mini").status, .interrupted)
        XCTAssertEqual(try store.evalItems(run: first.run, task: "hayai_mini_en").count, 3)

        Interrupt.clear()
        let resumed = try EvalRun.resume(store: store, name: "mini") { try self.task($0) }
        XCTAssertEqual(resumed.config.limit, 10)
        XCTAssertEqual(resumed.config.model, path)
        let counting = InterruptingModel(try LocalLanguageModel(path: resumed.config.model), after: .max)
        let results = try resumed.run(model: counting)
        XCTAssertEqual(results.first?.itemCount, 10)
        XCTAssertEqual(counting.calls, 7, "only the 7 items not stored are scored")
        XCTAssertEqual(try store.requireRun(named: "mini").status, .completed)
    }

    func testARunOfAGroupResumesWithEveryTaskOfTheGroup() throws {
        let store = try RunStore.open(workspace: home)
        let path = try modelCopy()
        let tasks = try EvalSets.loadTasks("hayai-mini", folder: Self.evalsets)
        XCTAssertEqual(tasks.map(\.name), ["hayai_mini_en", "hayai_mini_ja"])
        let first = try EvalRun.create(store: store, config: EvalRunConfig(model: path, tasks: ["hayai-mini"], limit: 3), tasks: tasks, name: "group")
        XCTAssertThrowsError(try first.run(model: InterruptingModel(try LocalLanguageModel(path: path), after: 4)))
        Interrupt.clear()
        let resumed = try EvalRun.resume(store: store, name: "group", tasks: { try EvalSets.loadTasks($0, folder: Self.evalsets) })
        XCTAssertEqual(resumed.tasks.map(\.name), ["hayai_mini_en", "hayai_mini_ja"])
        let results = try resumed.run(model: try LocalLanguageModel(path: path))
        XCTAssertEqual(results.map(\.itemCount), [3, 3])
        // The one-task loader cannot stand for a group: it names the group as a task that does not exist.
        XCTAssertThrowsError(try EvalRun.resume(store: store, name: "group") { try self.task($0) })
    }

    func testACompletedRunStoresAndPrintsEachTasksThroughput() throws {
        let store = try RunStore.open(workspace: home)
        let path = Fixtures.fixture("stablelm-tiny").path
        let run = try EvalRun.create(store: store, config: EvalRunConfig(model: path, tasks: ["hayai-mini-en"], limit: 6),
                                     tasks: [try task("hayai-mini-en")], name: "speed")
        let result = try run.run(model: try LocalLanguageModel(path: path))[0]
        XCTAssertGreaterThan(result.tokensPerSecond, result.itemsPerSecond, "an item holds many tokens")
        let summary = try store.requireRun(named: "speed").summaryValues
        XCTAssertEqual(summary["\(result.task)/items_per_second"], result.itemsPerSecond)
        XCTAssertEqual(summary["\(result.task)/tokens_per_second"], result.tokensPerSecond)
        let table = EvalTable.render([result]).split(separator: "\n")
        XCTAssertTrue(table[0].hasSuffix("items/s  tokens/s"), String(table[0]))
        XCTAssertEqual(table[2].split(separator: " ").suffix(2).map(String.init),
                       [String(format: "%.2f", result.itemsPerSecond), String(format: "%.0f", result.tokensPerSecond)], String(table[2]))
        XCTAssertTrue(EvalTable.throughput(result).hasPrefix(String(format: "%.2f items/s, %.0f tokens/s, ", result.itemsPerSecond, result.tokensPerSecond)))
    }

    func testResumeRefusesAModelWhoseContentChangedAtTheSamePath() throws {
        let store = try RunStore.open(workspace: home)
        let path = try modelCopy()
        let run = try EvalRun.create(store: store, config: EvalRunConfig(model: path, tasks: ["hayai-mini-en"], limit: 2),
                                     tasks: [try task("hayai-mini-en")], name: "mini")
        _ = try run.run(model: try LocalLanguageModel(path: path))
        // Other weights under the same name: the gpt_neox fixture's files.
        let weights = URL(fileURLWithPath: path).appendingPathComponent("model.safetensors")
        try FileManager.default.removeItem(at: weights)
        try FileManager.default.copyItem(at: Fixtures.fixture("gptneox-tiny/model.safetensors"), to: weights)
        XCTAssertThrowsError(try EvalRun.resume(store: store, name: "mini") { try self.task($0) }) { error in
            XCTAssertTrue("\(error)".contains("cannot resume mini: its model \(path) (content hash) was"), "\(error)")
        }
    }

    func testResumeRefusesOtherSettingsInOneLine() throws {
        let store = try RunStore.open(workspace: home)
        let path = Fixtures.fixture("stablelm-tiny").path
        _ = try EvalRun.create(store: store, config: EvalRunConfig(model: path, tasks: ["hayai-mini-en"], limit: 2),
                               tasks: [try task("hayai-mini-en")], name: "mini")
        let cases: [(EvalRun.Given, String)] = [
            (EvalRun.Given(limit: 3), "its --limit was 2, now 3"),
            (EvalRun.Given(model: Fixtures.fixture("gptneox-tiny").path), "its model was"),
            (EvalRun.Given(tasks: ["hayai-mini-ja"]), "its tasks was hayai-mini-en, now hayai-mini-ja"),
            (EvalRun.Given(numFewshot: 2), "its --num-fewshot was none, now 2"),
        ]
        for (given, message) in cases {
            XCTAssertThrowsError(try EvalRun.resume(store: store, name: "mini", given: given) { try self.task($0) }) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
        }
    }

    func testEveryRunRecordsTheBuildAndTheModelsContentHash() throws {
        let store = try RunStore.open(workspace: home)
        let path = Fixtures.fixture("stablelm-tiny").path
        let run = try EvalRun.create(store: store, config: EvalRunConfig(model: path, tasks: ["hayai-mini-en"], limit: 1),
                                     tasks: [try task("hayai-mini-en")], name: "mini").run
        let config = run.configValues
        guard case .string(let hash)? = config["model_hash"] else { return XCTFail("no model_hash in \(run.config)") }
        XCTAssertEqual(hash, try ModelIdentity.contentHash(path: path))
        XCTAssertNotEqual(hash, try ModelIdentity.contentHash(path: Fixtures.fixture("gptneox-tiny").path))
        guard case .object(let build)? = config["hayai"] else { return XCTFail("no hayai build in \(run.config)") }
        XCTAssertEqual(build["version"], .string(BuildInfo.version))
    }

    func testATasksOwnNameFindsItsFile() throws {
        XCTAssertEqual(try TaskCatalog.path(for: "xwinograd_en", searchPaths: [Self.evalsets]), Self.evalsets + "/xwinograd-en.yaml")
        XCTAssertThrowsError(try TaskCatalog.path(for: "jcommonsenseqa", searchPaths: [Self.evalsets])) { error in
            XCTAssertTrue("\(error)".contains("jcommonsenseqa-0.2"), "several files declare it: \(error)")
        }
    }
}
