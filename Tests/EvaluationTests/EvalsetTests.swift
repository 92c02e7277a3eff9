// The shipped evalsets/ load and run end to end on the fixture model with small limits, with the
// data from ../shared/data (HAYAI_DATA).
import XCTest
import Inference
import TestSupport
@testable import Evaluation

final class EvalsetTests: XCTestCase {
    static let evalsets = Fixtures.repoRoot.appendingPathComponent("evalsets")
    static let environment = ["HAYAI_DATA": Fixtures.shared.appendingPathComponent("data").path]
    static var model: LocalLanguageModel { LMEvalFixtureTests.model }

    func task(_ name: String) throws -> EvalTask {
        try EvalTask.load(path: Self.evalsets.appendingPathComponent(name + ".yaml").path, environment: Self.environment)
    }

    func run(_ name: String, limit: Int, shots: Int? = nil) throws -> (TaskResult, [ItemResult]) {
        var options = RunOptions(limit: limit)
        options.numFewshot = shots
        let sink = MemorySink()
        let result = try Runner(model: Self.model, options: options).run(try task(name), sink: sink)
        return (result, sink.results)
    }

    func testEveryEvalsetParses() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.evalsets.path).filter { $0.hasSuffix(".yaml") }
        XCTAssertGreaterThanOrEqual(files.count, 13)
        for f in files { XCTAssertNoThrow(try task(String(f.dropLast(5))), f) }
    }

    func testJCommonsenseQAPromptVersionsMatchTheJapaneseHarness() throws {
        let data = try Dataset.load(path: try task("jcommonsenseqa-0.1").dataFile)
        XCTAssertEqual(data.items.count, 1119)
        let doc = data.items[0]
        XCTAssertEqual(try task("jcommonsenseqa-0.1").text(doc, item: 0),
                       "[問題]:電子機器で使用される最も主要な電子回路基板の事をなんと言う？\n[選択肢]:[掲示板, パソコン, マザーボード, ハードディスク, まな板]\n[答え]:")
        XCTAssertEqual(try task("jcommonsenseqa-0.2").text(doc, item: 0),
                       "質問:電子機器で使用される最も主要な電子回路基板の事をなんと言う？\n選択肢:0.掲示板,1.パソコン,2.マザーボード,3.ハードディスク,4.まな板\n回答:")
        let v3 = try task("jcommonsenseqa-0.3").text(doc, item: 0)
        XCTAssertTrue(v3.hasPrefix("### 指示:\n与えられた選択肢の中から、最適な答えを選んでください。出力は以下から選択してください：\n- 掲示板\n"))
        XCTAssertTrue(v3.hasSuffix("\n\n### 入力:\n電子機器で使用される最も主要な電子回路基板の事をなんと言う？\n\n### 応答:\n"))
        // Few-shot examples in 0.2 answer with the choice number; in 0.1 with the choice text.
        let t2 = try task("jcommonsenseqa-0.2")
        let pool = try Dataset.load(path: t2.fewshotDataFile!).items
        let prefix = try t2.prefix(for: doc, item: 0, pool: FewshotPool(pool), poolIsEvalSet: false, numFewshot: 2)
        XCTAssertTrue(prefix.hasPrefix("質問と回答の選択肢を入力として受け取り"))
        XCTAssertNotNil(prefix.range(of: "回答:[0-4]\n\n", options: .regularExpression), prefix)
        XCTAssertEqual(try t2.prefix(for: doc, item: 0, pool: FewshotPool(pool), poolIsEvalSet: false, numFewshot: 2), prefix, "few-shot draws are deterministic")
    }

    func testJCommonsenseQARunsWithFewShot() throws {
        let (result, items) = try run("jcommonsenseqa-0.1", limit: 4, shots: 1)
        XCTAssertEqual(result.itemCount, 4)
        XCTAssertFalse(result.fewshotFromEvalSet)
        XCTAssertEqual(items[0].choices.count, 5)
        let acc = result.metric("acc")!.value
        XCTAssertTrue((0...1).contains(acc))
        XCTAssertTrue(items.allSatisfy { $0.choices.allSatisfy { $0.logLikelihood < 0 && $0.logLikelihood.isFinite } })
        XCTAssertTrue(items[0].prompt.hasPrefix("[問題]に対する[答え]を[選択肢]の中から選んでください。\n\n[問題]:"))
    }

    func testJNLIRunsWithBalancedAccuracyAndStringLabels() throws {
        let (result, items) = try run("jnli-0.2", limit: 6, shots: 0)
        XCTAssertEqual(items[0].gold, 2)
        XCTAssertEqual(items[1].gold, 0)
        XCTAssertEqual(items[0].target, "neutral")
        XCTAssertEqual(items[1].target, "entailment")
        for name in ["acc", "acc_norm", "balanced_acc", "mcc", "macro_f1"] {
            let v = try XCTUnwrap(result.metric(name), name).value
            XCTAssertTrue(v.isFinite, name)
        }
    }

    func testJNLIFewShotFallsBackToOtherValidationItems() throws {
        let (result, items) = try run("jnli-0.3", limit: 2, shots: 1)
        XCTAssertTrue(result.fewshotFromEvalSet)
        XCTAssertTrue(items[0].prompt.hasPrefix("以下は、タスクを説明する指示と"))
        XCTAssertEqual(items[0].prompt.components(separatedBy: "### 指示:").count, 3, "one example plus the item")
    }

    func testXWinogradPartialScoring() throws {
        let t = try task("xwinograd-en")
        let doc = try Dataset.load(path: t.dataFile).items[0]
        XCTAssertEqual(try t.choices(doc, item: 0), ["The city councilmen refused the demonstrators a permit because The city councilmen",
                                                     "The city councilmen refused the demonstrators a permit because the demonstrators"])
        XCTAssertEqual(try t.goldIndex(doc, item: 0, choices: ["a", "b"]), 0)
        let (result, items) = try run("xwinograd-en", limit: 4)
        XCTAssertEqual(items[0].choices.count, 2)
        XCTAssertEqual(items[1].gold, 1)
        XCTAssertNotNil(result.metric("acc"))
        let (ja, jaItems) = try run("xwinograd-ja", limit: 4)
        XCTAssertEqual(jaItems[0].prompt, "狙撃兵はテロリストを撃った。テロリスト")
        XCTAssertEqual(ja.itemCount, 4)
    }

    func testJSQuADGeneratesOnAFewItems() throws {
        let t = try task("jsquad-0.2")
        let data = try Dataset.load(path: t.dataFile)
        XCTAssertEqual(data.items.count, 4442)
        XCTAssertTrue(try t.text(data.items[0], item: 0).hasPrefix("文章:梅雨（つゆ、ばいう）は、"))
        XCTAssertEqual(try t.targets(data.items[0], item: 0), ["小笠原諸島", "小笠原諸島を除く日本", "小笠原諸島"])
        let (result, items) = try run("jsquad-0.1", limit: 2, shots: 0)
        XCTAssertEqual(items.count, 2)
        XCTAssertFalse(items[0].prediction.contains("\n"))
        XCTAssertNotNil(result.metric("jsquad_exact_match"))
        XCTAssertTrue((0...1).contains(result.metric("jsquad_char_f1")!.value))
    }

    func testPerplexityOnTheSampleText() throws {
        let (result, items) = try run("perplexity", limit: 10)
        XCTAssertEqual(items.count, 4)
        let wp = result.metric("word_perplexity")!.value, bp = result.metric("byte_perplexity")!.value, bpb = result.metric("bits_per_byte")!.value
        XCTAssertGreaterThan(wp, 1)
        XCTAssertGreaterThan(bp, 1)
        XCTAssertEqual(bpb, log2(bp), accuracy: 1e-9)
    }

    func testMiniSetsRunInFull() throws {
        for name in ["hayai-mini-en", "hayai-mini-ja"] {
            let (result, items) = try run(name, limit: 1000)
            XCTAssertEqual(items.count, 40, name)
            XCTAssertNotNil(result.metric("acc")?.stderr, name)
        }
    }

    func testBenchmarkJCommonsenseQAWithAndWithoutContextReuse() throws {
        let t = try task("jcommonsenseqa-0.1")
        for reuse in [true, false] {
            var options = RunOptions(limit: 20, reuseContext: reuse, numFewshot: 0)
            options.fewshotSeed = 1234
            let result = try Runner(model: Self.model, options: options).run(t)
            print(String(format: "[bench] jcommonsenseqa-0.1 20 items, context reuse %@: %.1f items/s (%.2f s)",
                         reuse ? "on " : "off", result.itemsPerSecond, result.seconds))
        }
    }
}

final class TaskCatalogTests: XCTestCase {
    func testFindsTasksByNameAndListsThem() throws {
        let dirs = [EvalsetTests.evalsets.path]
        XCTAssertEqual(try TaskCatalog.path(for: "hayai-mini-en", searchPaths: dirs), EvalsetTests.evalsets.appendingPathComponent("hayai-mini-en.yaml").path)
        XCTAssertTrue(TaskCatalog.available(searchPaths: dirs).contains("jsquad-0.3"))
        XCTAssertThrowsError(try TaskCatalog.path(for: "jcommonsenseqa-9.9", searchPaths: dirs)) { error in
            XCTAssertTrue("\(error)".contains("known: hayai-mini-en"), "\(error)")
        }
        XCTAssertEqual(try TaskCatalog.load("hayai-mini-ja", searchPaths: dirs).name, "hayai_mini_ja")
    }
}
