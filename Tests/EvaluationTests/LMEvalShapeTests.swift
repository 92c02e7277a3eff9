// The pieces of lm-eval-shaped output that do not need a model: group files and lm-eval's group
// arithmetic against hand-computed numbers, Python's json.dumps/str as lm-eval's hashes see them,
// and SHA-256 against published test vectors.
import XCTest
import Foundation
import TestSupport
@testable import Evaluation

final class LMEvalShapeTests: XCTestCase {
    // MARK: groups

    func testGroupScoreIsTheSizeWeightedMeanWithPooledStderr() {
        // Hand-computed: (0.5·10 + 0.8·30) / 40 = 0.725; pooled variance (9·0.1²·10 + 29·0.05²·30) / (40 − 2)
        // = 3.075 / 38, stderr √(that / 40) = 0.04497806482930845 (lm-eval's pooled_sample_stderr).
        let members = [EvalGroup.Member(value: 0.5, stderr: 0.1, size: 10), EvalGroup.Member(value: 0.8, stderr: 0.05, size: 30)]
        let weighted = EvalGroup.aggregate(members, weightBySize: true)
        XCTAssertEqual(weighted.value, 0.725, accuracy: 1e-12)
        XCTAssertEqual(weighted.stderr!, 0.04497806482930845, accuracy: 1e-12)
        // Without weight_by_size the mean is plain, and the stderr still pools by the real sizes (as lm-eval does).
        let plain = EvalGroup.aggregate(members, weightBySize: false)
        XCTAssertEqual(plain.value, 0.65, accuracy: 1e-12)
        XCTAssertEqual(plain.stderr!, 0.04497806482930845, accuracy: 1e-12)
        // A member without a standard error makes the group's "N/A".
        XCTAssertNil(EvalGroup.aggregate([members[0], EvalGroup.Member(value: 1, stderr: nil, size: 5)], weightBySize: true).stderr)
    }

    func testGroupMetricsUseOnlyMembersThatReportTheMetric() {
        let group = EvalGroup(name: "g", tasks: ["a", "b", "c"], aggregate: [.init(metric: "acc")])
        let acc = { (v: Double, se: Double) in MetricResult(name: "acc", value: v, stderr: se, higherIsBetter: true) }
        let f1 = MetricResult(name: "jsquad_char_f1", value: 0.9, stderr: 0.01, higherIsBetter: true)
        let metrics = LMEvalFormat.groupMetrics(group, members: [([acc(0.5, 0.1)], 10), ([acc(0.8, 0.05)], 30), ([f1], 100)])
        XCTAssertEqual(metrics.map(\.name), ["acc"])
        XCTAssertEqual(metrics[0].value, 0.725, accuracy: 1e-12)
        XCTAssertEqual(metrics[0].stderr!, 0.04497806482930845, accuracy: 1e-12)
    }

    func testShippedGroupFilesLoadAndNameTasksThatExist() throws {
        let evalsets = Fixtures.repoRoot.appendingPathComponent("evalsets").path
        for name in ["jglue-base", "jglue-instruct", "hayai-mini", "hayai-mini-inst", "xwinograd"] {
            let path = try XCTUnwrap(TaskCatalog.groupPath(for: name, searchPaths: [evalsets]), name)
            let group = try EvalGroup.load(path: path)
            XCTAssertEqual(group.name, name)
            XCTAssertFalse(group.aggregate.isEmpty, name)
            for task in group.tasks { XCTAssertNoThrow(try TaskCatalog.path(for: task, searchPaths: [evalsets]), "\(name): \(task)") }
        }
        let base = try EvalGroup.load(path: TaskCatalog.groupPath(for: "jglue-base", searchPaths: [evalsets])!)
        XCTAssertEqual(base.tasks, ["jcommonsenseqa-0.2", "jnli-0.2", "jsquad-0.2"])
        XCTAssertNil(TaskCatalog.groupPath(for: "hayai-mini-en", searchPaths: [evalsets]), "a task is not a group")
    }

    func testBadGroupFilesGiveOneLineErrors() {
        let cases: [(String, String)] = [
            ("task: [a]\n", "missing 'group'"),
            ("group: g\n", "'task' must list"),
            ("group: g\ntask: [a]\naggregate_metric_list:\n  - metric: acc\n    aggregation: median\n", "aggregation 'median'"),
            ("group: g\ntask: [a]\naggregate_metric_list:\n  - metric: acc\n    weight_by_size: maybe\n", "weight_by_size"),
            ("group: g\ntask: [a]\ntasks: [b]\n", "unknown key 'tasks'"),
        ]
        for (yaml, fragment) in cases {
            assertOneLineError("groups/g.yaml", fragment, of: EvaluationError.self) { try EvalGroup.parse(yaml: yaml, file: "groups/g.yaml") }
        }
    }

    // MARK: Python's text, as lm-eval hashes it

    func testJSONDumpsIndentedMatchesPythonWithTheFilesKeyOrder() {
        let line = #"{"question": "日本の首都は\"どこ\"？\n", "choices": ["東京", {"b": 1.5, "a": null}], "label": 0, "ok": true, "x": []}"#
        let doc = try! JSONValue.parse(line)
        let order = PythonText.KeyOrder.scan(line)
        // json.dumps(doc, indent=2, ensure_ascii=False) in Python 3.11, and its sha256.
        let python = "{\n  \"question\": \"日本の首都は\\\"どこ\\\"？\\n\",\n  \"choices\": [\n    \"東京\",\n    {\n      \"b\": 1.5,\n      \"a\": null\n    }\n  ],\n  \"label\": 0,\n  \"ok\": true,\n  \"x\": []\n}"
        XCTAssertEqual(PythonText.jsonDumps(doc, indent: 2, keyOrder: order), python)
        XCTAssertEqual(SHA256.hex(python), "e495a9ddbde3c5eb40142eed1aef6615d08dcec60299823dac63d05327935a12")
        // Control characters as Python escapes them (json.dumps("a\b\f\x7f\u2028\x01", ensure_ascii=False)).
        XCTAssertEqual(PythonText.jsonDumps(.string("a\u{08}\u{0C}\u{7F}\u{2028}\u{01}")), "\"a\\b\\f\u{7F}\u{2028}\\u0001\"")
        // Without the file's order the keys are sorted (and the hash would not be lm-eval's).
        XCTAssertTrue(PythonText.jsonDumps(doc, indent: 2).hasPrefix("{\n  \"choices\""))
    }

    func testKeyOrderIsFirstAppearanceAcrossLinesAndArrays() {
        let jsonl = "{\"b\": 1, \"a\": {\"y\": 1, \"x\": 2}}\n{\"c\": \"}\\\"{\", \"b\": 2}\n"
        let order = PythonText.KeyOrder.scan(jsonl)
        XCTAssertEqual(order.keys[""], ["b", "a", "c"])
        XCTAssertEqual(order.keys["a"], ["y", "x"])
        let array = PythonText.KeyOrder.scan("  [{\"z\": [{\"q\": 1, \"p\": 2}], \"y\": 0}, {\"w\": 1}]")
        XCTAssertEqual(array.keys[""], ["z", "y", "w"])
        XCTAssertEqual(array.keys["z/[]"], ["q", "p"])
        XCTAssertEqual(PythonText.KeyOrder.scan("not json at all ]}").keys, [:])
    }

    func testDatasetsKnowTheirColumnOrder() throws {
        let jsonl = try Dataset.load(path: Fixtures.fixture("lmeval_tinymc/tinymc.jsonl").path)
        XCTAssertEqual(jsonl.keyOrder.keys[""], ["question", "choices", "label"])
        let squad = try Dataset.load(path: Fixtures.data("jglue/jsquad/valid-v1.3.json").path)
        XCTAssertEqual(squad.keyOrder.keys[""], ["id", "title", "context", "question", "answers", "is_impossible"])
        XCTAssertEqual(squad.keyOrder.keys["answers"], ["text", "answer_start"])
        let doc = PythonText.jsonDumps(squad.items[0], indent: 2, keyOrder: squad.keyOrder)
        XCTAssertTrue(doc.hasPrefix("{\n  \"id\": "), doc)
    }

    func testStrAndReprAsPythonPrintsThem() {
        XCTAssertEqual(PythonText.str(.string("bare")), "bare")
        XCTAssertEqual(PythonText.str(.int(0)), "0")
        XCTAssertEqual(PythonText.str(.array([.string("a"), .string("it's"), .int(1), .double(2.5), .null, .bool(true)])),
                       #"['a', "it's", 1, 2.5, None, True]"#)
        XCTAssertEqual(PythonText.float(-24.683670043945312), "-24.683670043945312")
        XCTAssertEqual(PythonText.float(1e-05), "1e-05")
        XCTAssertEqual(PythonText.float(1e16), "1e+16")
    }

    func testSHA256MatchesPublishedVectors() {
        XCTAssertEqual(SHA256.hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex(String(repeating: "a", count: 1000)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }
}
