// Task YAML is bounded before Yams builds a tree: nesting depth, alias expansion and file size have
// named limits, while ordinary anchors and aliases (a shared template) still work.
import XCTest
@testable import Evaluation

final class YAMLBoundsTests: XCTestCase {
    func reason(_ yaml: String) -> String? {
        do { _ = try YAMLReading.load(yaml, file: "t.yaml"); return nil } catch { return "\(error)" }
    }

    func testAnchorsAndAliasesWithinTheLimitAreRead() throws {
        let value = try YAMLReading.load("base: &b {x: 1, y: [1, 2]}\ncopy: *b\n", file: "t.yaml")
        guard case .object(let o) = value else { return XCTFail("\(value)") }
        XCTAssertEqual(o["copy"], o["base"])
    }

    func testNestingIsBoundedAtTheLimit() {
        let limit = YAMLReading.nestingLimit
        // The top-level mapping is one level, so limit - 1 brackets fit.
        XCTAssertNil(reason("x: " + String(repeating: "[", count: limit - 1) + String(repeating: "]", count: limit - 1)))
        XCTAssertEqual(reason("x: " + String(repeating: "[", count: limit) + String(repeating: "]", count: limit)),
                       "t.yaml: mappings and lists nested more than \(limit) levels deep (YAMLReading.nestingLimit)")
        // Block style counts too.
        let block = (0..<(limit + 1)).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1\n"
        XCTAssertEqual(reason(block)?.contains("YAMLReading.nestingLimit"), true, block)
    }

    func testAliasExpansionIsCountedNotTheText() {
        // 10 × 10 × 10 × 10 × 10 = 100,000 scalars plus the lists that hold them: over the limit, from 300 bytes.
        var lines = ["a0: &a0 [" + Array(repeating: "x", count: 10).joined(separator: ", ") + "]"]
        for i in 1...4 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        XCTAssertEqual(reason(lines.joined(separator: "\n")),
                       "t.yaml: the document expands to more than \(YAMLReading.expandedNodeLimit) values (YAMLReading.expandedNodeLimit; aliases of aliases?)")
        // Three levels (about 1,100 values) are fine.
        XCTAssertNil(reason(lines.prefix(3).joined(separator: "\n")))
    }

    func testSyntaxErrorsStillComeFromYamsWithALine() {
        XCTAssertEqual(reason("a: [1, 2")?.hasPrefix("t.yaml: not valid YAML"), true)
    }

    func testAFileOverTheSizeLimitIsRefused() {
        let text = "task: t\n" + String(repeating: "#\n", count: YAMLReading.fileSizeLimit / 2)
        XCTAssertEqual(reason(text), "t.yaml: the task file is \(text.utf8.count) bytes, over the limit of \(YAMLReading.fileSizeLimit) (YAMLReading.fileSizeLimit)")
    }
}
