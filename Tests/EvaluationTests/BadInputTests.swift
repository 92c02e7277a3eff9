// Bad task files and data give one-line errors that name the file (and line or item).
import XCTest
@testable import Evaluation

final class BadInputTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func write(_ name: String, _ text: String) throws -> String {
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    let goodYAML = """
    task: t
    data_file: items.jsonl
    output_type: multiple_choice
    doc_to_text: "{{question}}"
    doc_to_choice: choices
    doc_to_target: label
    """

    func assertOneLine(_ error: Error, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        let text = "\(error)"
        XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
        for p in parts { XCTAssertTrue(text.contains(p), "'\(text)' lacks '\(p)'", file: file, line: line) }
    }

    func testMissingTaskName() throws {
        let path = try write("t.yaml", "output_type: multiple_choice\n")
        XCTAssertThrowsError(try EvalTask.load(path: path)) { assertOneLine($0, contains: [path, "missing 'task'"]) }
    }

    func testUnknownOutputTypeAndUnknownKey() throws {
        let path = try write("t.yaml", goodYAML.replacingOccurrences(of: "multiple_choice", with: "ranking"))
        XCTAssertThrowsError(try EvalTask.load(path: path)) { assertOneLine($0, contains: [path, "unknown output_type 'ranking'"]) }
        let typo = try write("u.yaml", goodYAML + "\nnum_fewshots: 3\n")
        XCTAssertThrowsError(try EvalTask.load(path: typo)) { assertOneLine($0, contains: [typo, "unknown key 'num_fewshots'"]) }
        let missingChoice = try write("v.yaml", goodYAML.replacingOccurrences(of: "doc_to_choice: choices\n", with: ""))
        XCTAssertThrowsError(try EvalTask.load(path: missingChoice)) { assertOneLine($0, contains: [missingChoice, "doc_to_choice"]) }
        let badYAML = try write("w.yaml", "task: [unclosed\n")
        XCTAssertThrowsError(try EvalTask.load(path: badYAML)) { assertOneLine($0, contains: [badYAML, "not valid YAML"]) }
        let function = try write("x.yaml", goodYAML.replacingOccurrences(of: "doc_to_target: label", with: "doc_to_target: !function utils.target"))
        XCTAssertThrowsError(try EvalTask.load(path: function)) { assertOneLine($0, contains: [function, "!function"]) }
    }

    func testMissingDataRootNamesTheVariableAndDownload() throws {
        let path = try write("t.yaml", goodYAML.replacingOccurrences(of: "items.jsonl", with: "${HAYAI_DATA}/x/items.jsonl") + "\ndownload: https://example.org/data\n")
        XCTAssertThrowsError(try EvalTask.load(path: path, environment: [:])) { assertOneLine($0, contains: [path, "HAYAI_DATA", "https://example.org/data"]) }
    }

    func testMalformedJSONLLineNamesFileAndLine() throws {
        let data = try write("items.jsonl", """
        {"question": "q1", "choices": ["a", "b"], "label": 0}
        {"question": "q2", "choices": ["a", "b"], "label": 1}
        {"question": "q3", "choices": ["a", "b"
        {"question": "q4", "choices": ["a", "b"], "label": 0}
        """)
        XCTAssertThrowsError(try Dataset.load(path: data)) { assertOneLine($0, contains: [data + ":3:", "malformed JSON line"]) }
        let skipped = try Dataset.load(path: data, skipBadLines: true)
        XCTAssertEqual(skipped.items.count, 3)
        XCTAssertEqual(skipped.skippedLines, [3])
    }

    func testLabelOutOfRangeNamesTheItem() throws {
        _ = try write("items.jsonl", "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"label\": 0}\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"label\": 5}\n")
        let task = try EvalTask.load(path: try write("t.yaml", goodYAML))
        let model = LMEvalFixtureTests.model
        XCTAssertThrowsError(try Runner(model: model).run(task)) { assertOneLine($0, contains: ["items.jsonl", "item 1", "label 5 is out of range for 2 choices"]) }
    }

    func testEmptyDatasetAndMissingFile() throws {
        _ = try write("items.jsonl", "\n\n")
        let task = try EvalTask.load(path: try write("t.yaml", goodYAML))
        XCTAssertThrowsError(try Runner(model: LMEvalFixtureTests.model).run(task)) { assertOneLine($0, contains: ["items.jsonl", "no items"]) }
        XCTAssertThrowsError(try Dataset.load(path: dir.appendingPathComponent("nope.jsonl").path)) { assertOneLine($0, contains: ["nope.jsonl", "no such file"]) }
    }
}
