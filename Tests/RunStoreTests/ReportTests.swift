// `hayai report`'s page, read back as text: every point of every series is drawn, eval tables and
// bar charts with intervals are there, disagreeing items are listed, Japanese stays Japanese; and the
// page opens in headless Chromium without script errors (skipped when chromium is not installed).
import Foundation
import XCTest
@testable import RunStore
import TestSupport

final class ReportTests: XCTestCase {
    var workspace: URL!

    override func setUp() { workspace = Fixtures.temporaryDirectory("report") }
    override func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    static let allRuns = ["pretrain-a", "sft-b", "eval-base", "eval-sft"]

    func testReportDrawsEveryPointOfEachSeries() throws {
        let store = try ReportFixtures.makeStore(at: workspace)
        let html = try Report.html(store: store, runs: Self.allRuns)
        let pre = ReportFixtures.pretrainSteps, sft = ReportFixtures.sftSteps
        let preVal = ReportFixtures.valSteps(pre).count, sftVal = ReportFixtures.valSteps(sft).count
        for chart in ["chart-loss-steps", "chart-loss-tokens"] {
            let paths = try SVGPaths(html: html, chart: chart)
            XCTAssertEqual(paths.points(run: "pretrain-a", metric: "train/loss"), pre, chart)
            XCTAssertEqual(paths.points(run: "pretrain-a", metric: "val/loss"), preVal, chart)
            XCTAssertEqual(paths.points(run: "sft-b", metric: "train/loss"), sft, chart)
            XCTAssertEqual(paths.points(run: "sft-b", metric: "val/loss"), sftVal, chart)
            XCTAssertEqual(paths.count, 4, "\(chart): two runs × train and val")
        }
        for (chart, metric) in [("chart-lr", "lr"), ("chart-grad-norm", "grad_norm"), ("chart-tokens-per-second", "tokens_per_second")] {
            let paths = try SVGPaths(html: html, chart: chart)
            XCTAssertEqual(paths.points(run: "pretrain-a", metric: metric), pre, chart)
            XCTAssertEqual(paths.points(run: "sft-b", metric: metric), sft, chart)
        }
        // Runs overlaid with a legend, each in its own colour.
        XCTAssertTrue(html.contains(#"<section id="training">"#))
        XCTAssertEqual(html.components(separatedBy: #"class="legend-item""#).count - 1, 2)
    }

    func testReportHasEvalTablesBarsWithIntervalsAndDisagreements() throws {
        let store = try ReportFixtures.makeStore(at: workspace)
        let html = try Report.html(store: store, runs: Self.allRuns)
        let table = try XCTUnwrap(section(html, from: #"<table class="eval">"#, to: "</table>"))
        XCTAssertEqual(table.components(separatedBy: "<tr>").count - 1, 1 + 2 * 2, "header + 2 tasks × (acc, acc_norm)")
        XCTAssertTrue(table.contains("eval-base") && table.contains("eval-sft"))
        XCTAssertTrue(table.contains(" ± "), "values carry their 95% half-width")
        for task in ["jcommonsenseqa", "xwinograd_en"] {
            let chart = try XCTUnwrap(section(html, from: #"id="chart-eval-\#(task)""#, to: "</svg>"), task)
            XCTAssertEqual(chart.components(separatedBy: #"<g class="bar""#).count - 1, 4, "\(task): 2 metrics × 2 runs")
            XCTAssertEqual(chart.components(separatedBy: #"class="ci""#).count - 1, 4, "\(task): an interval on each bar")
        }
        // The stored comparison's paired differences, with their intervals.
        let paired = try XCTUnwrap(section(html, from: #"<section id="comparisons">"#, to: "</section>"))
        XCTAssertTrue(paired.contains("eval-sft − eval-base"), paired)
        XCTAssertEqual(paired.components(separatedBy: "<tr><td>").count - 1, 2, "2 tasks × acc")
        XCTAssertTrue(paired.contains("95% CI") && paired.contains("[+"), paired)
        let expected = (0..<ReportFixtures.tasks.count).map(ReportFixtures.expectedDisagreements).reduce(0, +)
        XCTAssertGreaterThan(expected, 10)
        XCTAssertEqual(html.components(separatedBy: #"<details class="item""#).count - 1, expected)
        // Japanese text comes through as text, with the choices and both predictions and the gold answer.
        XCTAssertTrue(html.contains("<meta charset=\"utf-8\">"))
        XCTAssertTrue(html.contains("電車に乗るときに必要なものは何ですか？"))
        XCTAssertTrue(html.contains("<li>切符</li>"))
        XCTAssertTrue(html.contains(#"<tr><th>gold</th><td>切符</td></tr>"#))
        // Self-contained: nothing is loaded from anywhere.
        XCTAssertFalse(html.contains("<script src"))
        XCTAssertFalse(html.contains("<link"))
        XCTAssertFalse(html.contains("http://") && !html.contains("http://www.w3.org/2000/svg"))
        XCTAssertNil(html.range(of: "https://"))
    }

    func testWithoutNamesTheLatestRunsAreShown() throws {
        let store = try ReportFixtures.makeStore(at: workspace)
        let data = try ReportData.load(store: store, runs: [], options: ReportOptions(latestRuns: 1))
        XCTAssertEqual(data.trainingRuns.map(\.name), ["sft-b"])
        XCTAssertEqual(data.evalRuns.map(\.name), ["eval-sft"])
        XCTAssertThrowsError(try Report.html(store: store, runs: ["no-such-run"])) { error in
            XCTAssertEqual(error as? RunStoreError, .runNotFound(name: "no-such-run"))
        }
    }

    func testNaNBreaksTheLineAndLogScaleSkipsNonPositiveValues() throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain, name: "spiky")
        for step in 0..<10 {
            try store.log(run: run, step: step, tokens: step * 10, metrics: ["train/loss": step == 4 ? .nan : (step == 7 ? 0 : 5 - Double(step) * 0.4)])
        }
        let linear = try SVGPaths(html: try Report.html(store: store, runs: ["spiky"]), chart: "chart-loss-steps")
        XCTAssertEqual(linear.points(run: "spiky", metric: "train/loss"), 9)
        XCTAssertEqual(linear.moves(run: "spiky", metric: "train/loss"), 2, "the NaN lifts the pen once")
        let logHTML = try Report.html(store: store, runs: ["spiky"], options: ReportOptions(logScale: true))
        let log = try SVGPaths(html: logHTML, chart: "chart-loss-steps")
        XCTAssertEqual(log.points(run: "spiky", metric: "train/loss"), 8, "0 has no logarithm")
        XCTAssertTrue(logHTML.contains("(log scale)"))
    }

    func testLongSeriesAreThinnedKeepingTheLastPoint() {
        let points = (0..<10_001).map { MetricPoint(step: $0, tokens: nil, name: "x", value: Double($0), time: 0) }
        let thinned = ReportData.thin(points, to: 1000)
        XCTAssertLessThanOrEqual(thinned.count, 1001)
        XCTAssertEqual(thinned.first?.step, 0)
        XCTAssertEqual(thinned.last?.step, 10_000)
    }

    func testEmptyWorkspaceRendersAPage() throws {
        let store = try RunStore.open(workspace: workspace)
        let html = try Report.html(store: store)
        XCTAssertTrue(html.contains("No runs in this workspace yet."))
        XCTAssertTrue(html.hasSuffix("</html>\n"))
    }

    // MARK: - Headless Chromium

    func testReportOpensInChromiumWithoutScriptErrors() throws {
        guard let chromium = Chromium.find() else {
            throw XCTSkip("chromium is not installed (Debian: apt-get install chromium fonts-noto-cjk); skipping the browser check")
        }
        let store = try ReportFixtures.makeStore(at: workspace)
        // Kept after the test as its artifact: the page and its screenshot.
        let artifacts = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-report-test")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let page = artifacts.appendingPathComponent("report.html")
        try Report.write(store: store, runs: Self.allRuns, to: page)

        let profile = workspace.appendingPathComponent("chromium-profile")
        let dom = try chromium.run(["--dump-dom", "--virtual-time-budget=3000", page.absoluteString], profile: profile)
        let bodyTag = try XCTUnwrap(section(dom.stdout, from: "<body", to: ">"), "no <body> in the DOM: \(dom.stderr.suffix(2000))")
        XCTAssertTrue(bodyTag.contains(#"data-report-ready="1""#), "the page's script did not finish: \(bodyTag) \(dom.stderr.suffix(2000))")
        XCTAssertFalse(bodyTag.contains("data-report-errors"), "script error: \(bodyTag)")
        let consoleErrors = dom.stderr.split(separator: "\n").filter { $0.contains("Uncaught") || ($0.contains("CONSOLE") && $0.contains("rror")) }
        XCTAssertEqual(consoleErrors, [], "console errors")
        // The script ran over the disagreement list: its counter says how many items are shown.
        let expected = (0..<ReportFixtures.tasks.count).map(ReportFixtures.expectedDisagreements).reduce(0, +)
        XCTAssertTrue(dom.stdout.contains("\(expected) of \(expected) shown"))

        let screenshot = artifacts.appendingPathComponent("report.png")
        try? FileManager.default.removeItem(at: screenshot)
        _ = try chromium.run(["--screenshot=\(screenshot.path)", "--window-size=1280,2000", "--hide-scrollbars",
                              "--virtual-time-budget=3000", page.absoluteString], profile: profile)
        let png = try Data(contentsOf: screenshot)
        XCTAssertEqual(Array(png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "a PNG")
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, 1280)
        XCTAssertEqual(height, 2000)
        // A blank 1280×2000 page compresses to a few kB; charts, tables and text take far more.
        XCTAssertGreaterThan(png.count, 60_000, "the screenshot looks empty")
        try? FileManager.default.removeItem(atPath: "/tmp/hayai-report-screenshot.png")
        try? FileManager.default.copyItem(at: screenshot, to: URL(fileURLWithPath: "/tmp/hayai-report-screenshot.png"))
        print("report screenshot: \(screenshot.path)")
    }
}

/// The series paths of one chart in a report page.
struct SVGPaths {
    var paths: [(run: String, metric: String, declared: Int, d: String)] = []

    init(html: String, chart: String) throws {
        guard let svg = section(html, from: #"id="\#(chart)""#, to: "</svg>") else {
            throw ChromiumError(message: "no chart \(chart) in the page")
        }
        for piece in svg.components(separatedBy: #"<path class="series""#).dropFirst() {
            let tag = String(piece.prefix { $0 != ">" })
            paths.append((attribute("data-run", tag) ?? "", attribute("data-metric", tag) ?? "",
                          Int(attribute("data-points", tag) ?? "") ?? -1, attribute("d", tag) ?? ""))
        }
    }

    var count: Int { paths.count }

    /// Points drawn (coordinate pairs in `d`), checked against the path's own `data-points`.
    func points(run: String, metric: String) -> Int? {
        guard let p = paths.first(where: { $0.run == run && $0.metric == metric }) else { return nil }
        let pairs = p.d.split(separator: " ").filter { $0.first == "M" || $0.first == "L" }.count
        XCTAssertEqual(pairs, p.declared, "\(run) \(metric): data-points disagrees with the path")
        return pairs
    }

    func moves(run: String, metric: String) -> Int? {
        paths.first { $0.run == run && $0.metric == metric }.map { $0.d.split(separator: " ").filter { $0.first == "M" }.count }
    }
}

func attribute(_ name: String, _ tag: String) -> String? {
    guard let start = tag.range(of: " \(name)=\"") else { return nil }
    return String(tag[start.upperBound...].prefix { $0 != "\"" })
}

/// The text from the first `from` to the next `to` (inclusive).
func section(_ text: String, from: String, to: String) -> String? {
    guard let start = text.range(of: from), let end = text.range(of: to, range: start.upperBound..<text.endIndex) else { return nil }
    return String(text[start.lowerBound..<end.upperBound])
}

/// Debian's chromium, headless: run as root it needs --no-sandbox; each call gets a bounded time.
struct Chromium {
    var path: String

    static func find() -> Chromium? {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return Chromium(path: path)
        }
        return nil
    }

    func run(_ arguments: [String], profile: URL, timeout: TimeInterval = 120) throws -> (stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                             "--enable-logging=stderr", "--v=0", "--user-data-dir=\(profile.path)"] + arguments
        // Output goes to files, so a full pipe cannot stall it.
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        let outURL = profile.appendingPathComponent("stdout.txt"), errURL = profile.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        defer { try? out.close(); try? err.close() }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        if timedOut { throw ChromiumError(message: "chromium did not finish within \(Int(timeout)) s: \(stderr.suffix(1000))") }
        return (stdout, stderr)
    }
}

struct ChromiumError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
