// Comparisons pair items by task, index and document: runs over different item sets are compared on
// the shared items only (both columns, the interval, McNemar), the rest is counted, a comparison
// with nothing paired is refused, and each comparison is stored for the report.
import XCTest
import Foundation
import Evaluation
import RunStore
import TestSupport
@testable import Workbench

final class ComparisonTests: XCTestCase {
    var home: URL!
    override func setUp() { home = Fixtures.temporaryDirectory("hayai-compare") }
    override func tearDown() { try? FileManager.default.removeItem(at: home) }

    /// An eval run of task "t" whose item i asks question docs[i] and is right when correct[i].
    func evalRun(_ store: RunStore, _ name: String, docs: [String], correct: [Bool]) throws -> Run {
        let run = try store.createRun(kind: .eval, name: name, model: "m-\(name)")
        let sink = try StoreSink(store: store, run: run, task: "t")
        for (i, (doc, ok)) in zip(docs, correct).enumerated() {
            var item = ItemResult(index: i, doc: .object(["q": .string(doc)]), prompt: doc, prediction: ok ? "yes" : "no", target: "yes")
            item.correct = ok
            item.metrics = ["acc": ok ? 1 : 0]
            try sink.record(item)
        }
        let acc = Double(correct.filter { $0 }.count) / Double(correct.count)
        try store.saveEvalResults([EvalResult(task: "t", metric: "acc", value: acc, n: correct.count)], run: run)
        return try store.finish(run: run)
    }

    func testRunsOverDifferentItemSetsAreComparedOnTheSharedItemsOnly() throws {
        let store = try RunStore.open(workspace: home)
        let docs = (0..<30).map { "q\($0)" }
        // A: 10 items, all wrong. B: 30 items, the first 10 right, the rest wrong (B's own mean is 1/3).
        let a = try evalRun(store, "a", docs: Array(docs.prefix(10)), correct: Array(repeating: false, count: 10))
        let b = try evalRun(store, "b", docs: docs, correct: (0..<30).map { $0 < 10 })
        let (record, stored) = try Comparison.makeAndStore(store: store, a: a, b: b, name: "a-vs-b")
        let row = try XCTUnwrap(record.tasks.first)
        XCTAssertEqual(row.items, 10)
        XCTAssertEqual(row.unpairedA, 0)
        XCTAssertEqual(row.unpairedB, 20)
        let acc = try XCTUnwrap(row.metrics.first { $0.metric == "acc" })
        XCTAssertEqual(acc.a, 0)
        XCTAssertEqual(acc.b, 1, "B over the paired items, not its own 30")
        XCTAssertEqual(acc.difference, 1)
        XCTAssertEqual(acc.lower, 1); XCTAssertEqual(acc.upper, 1)
        XCTAssertEqual(try XCTUnwrap(acc.mcnemarP), 2 * pow(0.5, 10), accuracy: 1e-12)
        XCTAssertEqual(row.disagreements.count, 10)
        // Stored: the report reads the same record back.
        XCTAssertEqual(stored.kind, .compare)
        XCTAssertEqual(try store.requireRun(named: "a-vs-b").comparison, record)
    }

    func testTheReportShowsTheStoredComparisonsPairedDifferences() throws {
        let store = try RunStore.open(workspace: home)
        let docs = (0..<30).map { "q\($0)" }
        let a = try evalRun(store, "a", docs: Array(docs.prefix(10)), correct: Array(repeating: false, count: 10))
        let b = try evalRun(store, "b", docs: docs, correct: (0..<30).map { $0 < 10 })
        _ = try Comparison.makeAndStore(store: store, a: a, b: b, name: "a-vs-b")
        let html = try Report.html(store: store, runs: ["a", "b"])
        XCTAssertTrue(html.contains(#"<section id="comparisons">"#), html)
        // The paired columns (A 0, B 1 over the 10 shared items) and the 20 of B left out.
        XCTAssertTrue(html.contains("<tr><td>t</td><td>10</td><td>0/20</td><td>acc</td><td>0.0000</td><td>1.0000</td><td>+1.0000</td>"), html)
        XCTAssertEqual(html.components(separatedBy: #"<details class="item""#).count - 1, 10)
    }

    func testTheSameIndexWithAnotherDocumentDoesNotPair() throws {
        let store = try RunStore.open(workspace: home)
        let a = try evalRun(store, "a", docs: ["x0", "x1", "x2"], correct: [true, true, true])
        let b = try evalRun(store, "b", docs: ["x0", "other", "x2"], correct: [false, false, false])
        let row = try XCTUnwrap(try Comparison.make(store: store, a: a, b: b).tasks.first)
        XCTAssertEqual(row.items, 2)
        XCTAssertEqual(row.unpairedA, 1); XCTAssertEqual(row.unpairedB, 1)
    }

    func testNothingPairedIsRefused() throws {
        let store = try RunStore.open(workspace: home)
        let a = try evalRun(store, "a", docs: ["x0", "x1"], correct: [true, false])
        let b = try evalRun(store, "b", docs: ["y0", "y1"], correct: [true, false])
        XCTAssertThrowsError(try Comparison.make(store: store, a: a, b: b)) { error in
            XCTAssertTrue("\(error)".contains("share no item"), "\(error)")
        }
    }
}
