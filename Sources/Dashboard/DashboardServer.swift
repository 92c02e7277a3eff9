// `hayai dashboard`'s server: the report's views served live on 127.0.0.1 over FlyingFox, read from the
// store on every request, so a page left open follows a run while it trains.
//
//   GET /                         the report page; its script polls /api/runs and, when that changes, reloads /view
//   GET /view                     the page's <main> contents
//   GET /api/runs                 the shown runs: name, kind, model, status, times, last step, point count, summary
//   GET /api/runs/NAME            one run, with its config
//   GET /api/runs/NAME/metrics    its series: {"metrics": {"train/loss": {"steps": [], "tokens": [], "values": []}}}
//                                 (?name=M for one metric, ?since=STEP for the points after a step)
//   GET /api/runs/NAME/eval       its eval results
//
// `?runs=a,b` on any of the page or list routes picks the runs (else those given at start, else the
// latest); `?log=1` draws loss on a log scale.
import FlyingFox
import Foundation
import RunStore


public actor DashboardServer {
    public nonisolated let store: RunStore
    /// Runs shown when a request names none (empty: the latest runs).
    public nonisolated let runs: [String]
    public nonisolated let options: ReportOptions
    private let server: HTTPServer
    private var task: Task<Void, Error>?

    /// A server on 127.0.0.1:`port` (0: a free port, see `start`). Loopback only: the store may hold
    /// prompts and outputs nobody else should read.
    public init(store: RunStore, runs: [String] = [], port: UInt16 = 8765, options: ReportOptions = ReportOptions()) throws {
        self.store = store
        self.runs = runs
        var options = options
        options.live = LiveRefresh(pollPath: "/api/runs", viewPath: "/view")
        if options.title == ReportOptions().title { options.title = "hayai dashboard" }
        self.options = options
        server = HTTPServer(address: try sockaddr_in.inet(ip4: "127.0.0.1", port: port), timeout: 30, logger: .disabled)
    }

    /// Starts serving in the background and returns the port it listens on.
    @discardableResult
    public func start() async throws -> UInt16 {
        if task == nil {
            await addRoutes()
            let server = self.server
            failure = nil
            task = Task {
                do {
                    try await server.run()
                } catch {
                    self.failed(error)
                    throw error
                }
            }
        }
        // Listening, or the listener's own error (port taken, say) rather than a timeout.
        let deadline = Date().addingTimeInterval(10)
        while await !server.isListening {
            if let failure { throw failure }
            guard Date() < deadline else { throw DashboardError.notListening }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        guard case .ip4(_, let port)? = await server.listeningAddress else {
            throw DashboardError.notListening
        }
        return port
    }

    private var failure: Error?

    private func failed(_ error: Error) { failure = error }

    /// Waits until the server stops (`stop`, or the listener failing).
    public func wait() async throws {
        if let task { try await task.value }
    }

    public func stop() async {
        await server.stop(timeout: 1)
        task?.cancel()
        task = nil
    }

    private func addRoutes() async {
        let api = DashboardAPI(store: store, runs: runs, options: options)
        await server.appendRoute("GET /") { request in try api.respond { try api.page(request) } }
        await server.appendRoute("GET /view") { request in try api.respond { try api.view(request) } }
        await server.appendRoute("GET /api/runs") { request in try api.respond { try api.runList(request) } }
        await server.appendRoute("GET /api/runs/:name") { request in try api.respond { try api.run(request) } }
        await server.appendRoute("GET /api/runs/:name/metrics") { request in try api.respond { try api.metrics(request) } }
        await server.appendRoute("GET /api/runs/:name/eval") { request in try api.respond { try api.eval(request) } }
    }
}

public enum DashboardError: Error, CustomStringConvertible {
    case notListening

    public var description: String {
        switch self {
        case .notListening: return "the dashboard server did not start listening on 127.0.0.1"
        }
    }
}

/// The routes' bodies, as plain functions of a request (no server state), so they run on any thread.
struct DashboardAPI: Sendable {
    let store: RunStore
    let runs: [String]
    let options: ReportOptions

    enum Body {
        case html(String)
        case json(JSON)
    }

    struct NotFound: Error { var message: String }

    func respond(_ body: () throws -> Body) throws -> HTTPResponse {
        let status: HTTPStatusCode
        let content: Body
        do {
            content = try body()
            status = .ok
        } catch let error as NotFound {
            (status, content) = (.notFound, .json(.object(["error": .string(error.message)])))
        } catch let error as RunStoreError {
            if case .runNotFound = error {
                (status, content) = (.notFound, .json(.object(["error": .string(error.description)])))
            } else {
                (status, content) = (.internalServerError, .json(.object(["error": .string(error.description)])))
            }
        } catch {
            (status, content) = (.internalServerError, .json(.object(["error": .string("\(error)")])))
        }
        switch content {
        case .html(let text):
            return HTTPResponse(statusCode: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                                body: Data(text.utf8))
        case .json(let value):
            return HTTPResponse(statusCode: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                                body: Data(value.jsonText.utf8))
        }
    }

    /// The runs a request asks for: `?runs=a,b`, else those given at start (empty: the latest).
    func selection(_ request: HTTPRequest) -> [String] {
        guard let list = request.query["runs"], !list.isEmpty else { return runs }
        return list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func options(_ request: HTTPRequest) -> ReportOptions {
        var options = self.options
        if let log = request.query["log"] { options.logScale = log == "1" || log == "true" }
        return options
    }

    func page(_ request: HTTPRequest) throws -> Body {
        .html(try Report.html(store: store, runs: selection(request), options: options(request)))
    }

    func view(_ request: HTTPRequest) throws -> Body {
        .html(try Report.view(store: store, runs: selection(request), options: options(request)))
    }

    func runList(_ request: HTTPRequest) throws -> Body {
        // A run whose process died since the last look shows as interrupted, not running forever.
        try store.markInterruptedRuns()
        // Polled every few seconds: run rows and per-metric counts only, never the series themselves.
        let shown = try ReportData.selectRuns(store: store, names: selection(request), latest: options.latestRuns)
        return .json(.object(["runs": .array(try shown.map { try runObject($0, withConfig: false) })]))
    }

    func requireRun(_ request: HTTPRequest) throws -> Run {
        guard let name = request.routeParameters["name"] else { throw NotFound(message: "no run name in the path") }
        return try store.requireRun(named: name)
    }

    func run(_ request: HTTPRequest) throws -> Body {
        .json(try runObject(try requireRun(request), withConfig: true))
    }

    func runObject(_ run: Run, withConfig: Bool) throws -> JSON {
        let stats = try store.metricStats(run: run)
        var object: [String: JSON] = [
            "name": .string(run.name), "kind": .string(run.kind.rawValue), "model": run.model.map(JSON.string) ?? .null,
            "status": .string(run.status.rawValue), "started_at": .double(run.startedAt.timeIntervalSince1970),
            "ended_at": run.endedAt.map { .double($0.timeIntervalSince1970) } ?? .null,
            "heartbeat_at": run.heartbeatAt.map { .double($0.timeIntervalSince1970) } ?? .null,
            "last_step": stats.map(\.lastStep).max().map { .int($0) } ?? .null,
            "points": .int(stats.map(\.count).reduce(0, +)),
            "last": .object(Dictionary(uniqueKeysWithValues: stats.map { ($0.name, JSON.double($0.last)) })),
            "summary": .object(run.summaryValues.mapValues(JSON.double)),
            "parent": run.parent.map(JSON.string) ?? .null,
        ]
        if withConfig { object["config"] = .object(run.configValues) }
        return .object(object)
    }

    func metrics(_ request: HTTPRequest) throws -> Body {
        let run = try requireRun(request)
        let since = request.query["since"].flatMap { Int($0) }
        var byName: [String: (steps: [JSON], tokens: [JSON], values: [JSON])] = [:]
        for p in try store.metrics(run: run, name: request.query["name"]) where since.map({ p.step > $0 }) ?? true {
            byName[p.name, default: ([], [], [])].steps.append(.int(p.step))
            byName[p.name]!.tokens.append(p.tokens.map { .int($0) } ?? .null)
            byName[p.name]!.values.append(.double(p.value))
        }
        return .json(.object([
            "run": .string(run.name), "status": .string(run.status.rawValue),
            "metrics": .object(byName.mapValues { .object(["steps": .array($0.steps), "tokens": .array($0.tokens), "values": .array($0.values)]) }),
        ]))
    }

    func eval(_ request: HTTPRequest) throws -> Body {
        let run = try requireRun(request)
        let results = try store.evalResults(run: run).map { r -> JSON in
            .object(["task": .string(r.task), "metric": .string(r.metric), "value": .double(r.value),
                     "stderr": r.stderr.map(JSON.double) ?? .null, "n": .int(r.n), "num_fewshot": .int(r.numFewshot)])
        }
        return .json(.object(["run": .string(run.name), "results": .array(results)]))
    }
}
