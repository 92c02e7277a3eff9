// Metric, statistics, template and windowing unit tests: values worked out by hand or with Python.
import Basics
import XCTest
@testable import Evaluation

final class MetricsTests: XCTestCase {
    func testAccNormDividesByCodePointsNotBytes() {
        // "東京" is 2 code points but 6 UTF-8 bytes: per code point −1 loses to −0.5; per byte (−0.33) it would win.
        XCTAssertEqual(Metrics.normalizedArgmax([-2.0, -3.0], choices: ["東京", "abcdef"]), 1)
        XCTAssertEqual(Metrics.normalizedArgmax([-3.0, -6.1], choices: ["a", "bb"]), 0)
        XCTAssertEqual(Metrics.argmax([-1, -1, 0.5, 0.5]), 2, "first maximum, like numpy")
    }

    func testMeanStderrIsSampleSdOverRootN() {
        XCTAssertEqual(Metrics.meanStderr([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])!, 0.16329931618554522, accuracy: 1e-15)
        XCTAssertNil(Metrics.meanStderr([1]))
    }

    func testBalancedAccuracyMCCAndMacroF1() {
        // Class 0: 2/2 right, class 1: 1/2 right, class 2: 0/1 right.
        XCTAssertEqual(Metrics.balancedAccuracy(correct: [1, 1, 1, 0, 0], gold: [0, 0, 1, 1, 2]), 0.5, accuracy: 1e-12)
        XCTAssertEqual(Metrics.matthewsCorrelation(gold: [0, 1, 0, 1], predicted: [0, 1, 0, 1]), 1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.matthewsCorrelation(gold: [0, 1, 0, 1], predicted: [1, 0, 1, 0]), -1, accuracy: 1e-12)
        // scikit-learn: matthews_corrcoef([0,0,1,1,2,2],[0,1,1,2,2,0]) = 0.25, f1_score(..., average="macro") = 0.5
        XCTAssertEqual(Metrics.matthewsCorrelation(gold: [0, 0, 1, 1, 2, 2], predicted: [0, 1, 1, 2, 2, 0]), 0.25, accuracy: 1e-12)
        XCTAssertEqual(Metrics.macroF1(gold: [0, 0, 1, 1, 2, 2], predicted: [0, 1, 1, 2, 2, 0]), 0.5, accuracy: 1e-12)
    }

    func testJSQuADCharF1AndExactMatch() {
        XCTAssertEqual(Metrics.jsquadCharF1("小笠原諸島", "小笠原諸島を除く日本"), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(Metrics.jsquadCharF1("東京都", "東京"), 0.8, accuracy: 1e-12)
        XCTAssertEqual(Metrics.jsquadCharF1("「東京」。", "東京"), 1, accuracy: 1e-12, "punctuation is not counted")
        XCTAssertEqual(Metrics.jsquadCharF1("大阪", "東京"), 0)
        XCTAssertTrue(Metrics.jsquadExactMatch("ＡＢＣ　１２３", "ABC 123"), "full-width folds to half-width")
        XCTAssertTrue(Metrics.jsquadExactMatch(" 雨季 ", "雨季"))
        XCTAssertFalse(Metrics.jsquadExactMatch("雨季です", "雨季"))
    }

    func testExactMatchOptionsAndNumericMatch() {
        XCTAssertTrue(Metrics.exactMatch("Paris!", "paris", ignoreCase: true, ignorePunctuation: true))
        XCTAssertFalse(Metrics.exactMatch("Paris!", "paris"))
        XCTAssertTrue(Metrics.exactMatch("The answer is 42", "42", regexesToIgnore: ["^The answer is "]))
        XCTAssertTrue(Metrics.numericMatch("so the total is 1,234.", "1234"))
        XCTAssertTrue(Metrics.numericMatch("答えは 7 です", "7.0"))
        XCTAssertFalse(Metrics.numericMatch("no number", "7"))
    }

    func testPerplexityAggregatesAndWordCount() {
        XCTAssertEqual(Metrics.wordCount("a b  c"), 3)
        XCTAssertEqual(Metrics.wordCount(" a b"), 3, "re.split keeps the empty piece before leading space")
        XCTAssertEqual(Metrics.wordCount("日本語の文"), 1)
        XCTAssertEqual(Metrics.weightedPerplexity(logLikelihoods: [-2, -4], units: [1, 2]), exp(2), accuracy: 1e-12)
        XCTAssertEqual(Metrics.bitsPerByte(logLikelihoods: [-log(2) * 8], bytes: [4]), 2, accuracy: 1e-12)
    }

    func testMcNemarKnownValues() {
        let r = CompareStats.mcnemar(onlyA: 10, onlyB: 2)
        XCTAssertEqual(r.exactP, 0.03857421875, accuracy: 1e-12)
        XCTAssertEqual(r.chiSquare, 49.0 / 12.0, accuracy: 1e-12)
        XCTAssertEqual(r.chiSquareP, 0.04330814281079198, accuracy: 1e-9)
        XCTAssertEqual(CompareStats.mcnemar(onlyA: 0, onlyB: 5).exactP, 0.0625, accuracy: 1e-12)
        XCTAssertEqual(CompareStats.mcnemar(onlyA: 0, onlyB: 0).exactP, 1)
        XCTAssertEqual(CompareStats.mcnemar(onlyA: 300, onlyB: 300).exactP, 1, accuracy: 1e-9)
    }

    func testPairedBootstrapIsDeterministicAndBracketsTheDifference() {
        let a: [Double] = (0..<200).map { $0 % 3 == 0 ? 1 : 0 }
        let b: [Double] = (0..<200).map { $0 % 2 == 0 ? 1 : 0 }
        let x = CompareStats.pairedBootstrap(a, b, resamples: 1000, seed: 7)
        let y = CompareStats.pairedBootstrap(a, b, resamples: 1000, seed: 7)
        XCTAssertEqual(x, y)
        XCTAssertEqual(x.difference, Metrics.mean(b) - Metrics.mean(a), accuracy: 1e-12)
        XCTAssertLessThan(x.lower, x.difference)
        XCTAssertGreaterThan(x.upper, x.difference)
        let same = CompareStats.pairedBootstrap(a, a)
        XCTAssertEqual(same.lower, 0)
        XCTAssertEqual(same.upper, 0)
    }

    func testDisagreementsAndPairing() {
        func item(_ i: Int, _ correct: Bool) -> ItemResult {
            var r = ItemResult(index: i, doc: .null, prompt: "", prediction: correct ? "x" : "y", target: "x")
            r.correct = correct
            return r
        }
        let a = [item(0, true), item(1, false), item(2, true), item(3, true)]
        let b = [item(2, false), item(1, true), item(0, true)]  // item 3 missing in B
        XCTAssertEqual(CompareStats.disagreements(a, b).map(\.index), [1, 2])
        let m = CompareStats.mcnemar(a, b)
        XCTAssertEqual(m.onlyA, 1)
        XCTAssertEqual(m.onlyB, 1)
    }

    func testRollingWindowsAsLMEvalDocuments() {
        // lm-eval's docstring example: tokens 0…9, prefix EOT, max length 4.
        let w = RequestEncoding.rollingWindows(tokens: Array(0..<10), prefixToken: 99, maxSequenceLength: 4)
        XCTAssertEqual(w.map(\.context), [[99], [3], [5, 6, 7]])
        XCTAssertEqual(w.map(\.continuation), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]])
        XCTAssertEqual(RequestEncoding.rollingWindows(tokens: [5], prefixToken: 99, maxSequenceLength: 4).map(\.context), [[99]])
        XCTAssertTrue(RequestEncoding.rollingWindows(tokens: [], prefixToken: 99, maxSequenceLength: 4).isEmpty)
    }

    func testTemplatesRenderJinjaStyleAccess() throws {
        let doc = JSONValue.object(["question": .string("Q?"), "choices": .array([.string("a"), .string("b")]),
                                    "answers": .object(["text": .array([.string("t0")])]), "sentence": .string("x _ y "),
                                    "answer": .int(2), "ctx": .string("title [SEP] body ")])
        XCTAssertEqual(try PromptTemplate("{{question}} {{ choices[1] }} {{answers['text'][0]}} {{answers.text.0}}").render(doc), "Q? b t0 t0")
        XCTAssertEqual(try PromptTemplate(#"{{sentence|before:"_"}}|{{sentence|after:"_"|trim}}|{{answer|add:-1}}"#).render(doc), "x |y|1")
        XCTAssertEqual(try PromptTemplate(#"{{ctx|after_last:"[SEP]"|trim}}"#).render(doc), "body")
        XCTAssertEqual(try PromptTemplate("{{ choices|join:\", \" }}").render(doc), "a, b")
        XCTAssertThrowsError(try PromptTemplate("{% if %}"))
    }

    func testSeededSamplingIsDistinctAndStable() {
        var r1 = SeededRandom(seed: 1234, stream: 5), r2 = SeededRandom(seed: 1234, stream: 5)
        let s = r1.sample(count: 4, from: 10)
        XCTAssertEqual(s, r2.sample(count: 4, from: 10))
        XCTAssertEqual(Set(s).count, 4)
        var r3 = SeededRandom(seed: 1, stream: 0)
        XCTAssertEqual(r3.sample(count: 5, from: 3).count, 3)
    }
}
