// The dashboard on a free loopback port: the page and its JSON are served from the store as it is now,
// new points logged while it runs show up in the JSON and in the redrawn charts, and it stops.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
@testable import Dashboard
import RunStore
import TestSupport

final class DashboardTests: XCTestCase {
    var workspace: URL!

    override func setUp() { workspace = Fixtures.temporaryDirectory("dashboard") }
    override func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    func testServesPageAndJSONAndShowsNewPointsWhileARunTrains() async throws {
        let store = try RunStore.open(workspace: workspace)
        let run = try store.createRun(kind: .pretrain, name: "live", model: "runs/live")
        for step in 0..<20 { try log(store, run, step) }
        let eval = try store.createRun(kind: .eval, name: "eval-live", model: "runs/live")
        try store.saveEvalResults([EvalResult(task: "jcommonsenseqa", metric: "acc", value: 0.5, stderr: 0.05, n: 100)], run: eval)

        let server = try DashboardServer(store: store, port: 0)
        let port = try await server.start()
        XCTAssertGreaterThan(port, 0)
        let base = "http://127.0.0.1:\(port)"

        let page = try await get(base + "/")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.contentType.hasPrefix("text/html"))
        XCTAssertTrue(page.text.contains(#"var HAYAI_LIVE = {poll: "/api/runs", view: "/view""#), "the page polls the JSON")
        XCTAssertEqual(points(in: page.text, metric: "train/loss"), 20)
        XCTAssertTrue(page.text.contains(#"id="chart-eval-jcommonsenseqa""#))

        var list = try await json(base + "/api/runs")
        var live = try XCTUnwrap(runEntry(list, "live"))
        XCTAssertEqual(live["status"] as? String, "running")
        XCTAssertEqual(live["last_step"] as? Int, 19)
        XCTAssertEqual(live["points"] as? Int, 20 * 3)
        XCTAssertNotNil(runEntry(list, "eval-live"))

        let metrics = try await json(base + "/api/runs/live/metrics")
        let loss = try XCTUnwrap((metrics["metrics"] as? [String: Any])?["train/loss"] as? [String: Any])
        XCTAssertEqual((loss["steps"] as? [Int])?.count, 20)
        XCTAssertEqual((loss["tokens"] as? [Int])?.last, 20 * 512)

        // A tiny training run goes on writing while the dashboard is read.
        let writer = Task.detached {
            for step in 20..<50 {
                try self.log(store, run, step)
                try await Task.sleep(nanoseconds: 10_000_000)
            }
        }
        var seenSteps: [Int] = [19]
        let deadline = Date().addingTimeInterval(30)
        while seenSteps.last! < 49, Date() < deadline {
            list = try await json(base + "/api/runs")
            live = try XCTUnwrap(runEntry(list, "live"))
            if let step = live["last_step"] as? Int, step != seenSteps.last { seenSteps.append(step) }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await writer.value
        XCTAssertEqual(seenSteps.last, 49, "the JSON follows the run")
        XCTAssertGreaterThan(seenSteps.count, 2, "points appeared while it trained: \(seenSteps)")
        XCTAssertEqual(seenSteps, seenSteps.sorted())

        let view = try await get(base + "/view")
        XCTAssertEqual(points(in: view.text, metric: "train/loss"), 50, "the redrawn chart has the new points")
        XCTAssertFalse(view.text.contains("<html"), "/view is the page's main part only")
        let since = try await json(base + "/api/runs/live/metrics?name=train/loss&since=39")
        let newer = try XCTUnwrap((since["metrics"] as? [String: Any])?["train/loss"] as? [String: Any])
        XCTAssertEqual(newer["steps"] as? [Int], Array(40..<50))

        // Selection and log scale by query; unknown runs are 404 with a message.
        let chosen = try await get(base + "/view?runs=live&log=1")
        XCTAssertTrue(chosen.text.contains("(log scale)"))
        XCTAssertFalse(chosen.text.contains("eval-live"))
        let missing = try await get(base + "/api/runs/nope/metrics")
        XCTAssertEqual(missing.status, 404)
        XCTAssertTrue(missing.text.contains("no run named 'nope'"))
        let one = try await json(base + "/api/runs/eval-live/eval")
        XCTAssertEqual((one["results"] as? [[String: Any]])?.first?["value"] as? Double, 0.5)

        try store.finish(run: run)
        list = try await json(base + "/api/runs")
        XCTAssertEqual(runEntry(list, "live")?["status"] as? String, "completed")

        await server.stop()
        do {
            _ = try await get(base + "/api/runs")
            XCTFail("the server still answers after stop")
        } catch {}
    }

    func testAPortInUseIsReportedAsSuch() async throws {
        let store = try RunStore.open(workspace: workspace)
        let first = try DashboardServer(store: store, port: 0)
        let port = try await first.start()
        let second = try DashboardServer(store: store, port: port)
        do {
            _ = try await second.start()
            XCTFail("two servers on one port")
        } catch {
            XCTAssertFalse(error is DashboardError, "the socket's own error, not a timeout: \(error)")
        }
        await second.stop()
        await first.stop()
    }

    // MARK: - Helpers

    func log(_ store: RunStore, _ run: Run, _ step: Int) throws {
        try store.log(run: run, step: step, tokens: (step + 1) * 512,
                      metrics: ["train/loss": 6 * exp(-Double(step) / 20) + 2, "lr": 1e-3, "tokens_per_second": 900])
    }

    struct Response { var status: Int; var contentType: String; var text: String }

    func get(_ url: String) async throws -> Response {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 10
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return Response(status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type") ?? "",
                        text: String(decoding: data, as: UTF8.self))
    }

    func json(_ url: String) async throws -> [String: Any] {
        let response = try await get(url)
        XCTAssertEqual(response.status, 200, url)
        XCTAssertTrue(response.contentType.hasPrefix("application/json"), url)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(response.text.utf8)) as? [String: Any])
    }

    func runEntry(_ list: [String: Any], _ name: String) -> [String: Any]? {
        (list["runs"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    /// `data-points` of the run "live"'s `metric` path in the loss-by-step chart.
    func points(in html: String, metric: String) -> Int? {
        guard let chart = html.range(of: #"id="chart-loss-steps""#) else { return nil }
        let rest = html[chart.upperBound...]
        guard let end = rest.range(of: "</svg>") else { return nil }
        let svg = rest[..<end.lowerBound]
        guard let path = svg.range(of: #"data-run="live" data-metric="\#(metric)" data-points=""#) else { return nil }
        return Int(svg[path.upperBound...].prefix { $0 != "\"" })
    }
}
