// What a report shows, read from the store: the runs chosen (those named, else the latest few), their
// metric series, the eval runs' scores, and the items where two eval runs disagree on the same task.
import Foundation

/// How a report is drawn.
public struct ReportOptions: Sendable {
    /// Loss axes on a log scale (loss curves span decades early in pretraining).
    public var logScale: Bool
    public var title: String
    /// Without named runs: how many of the latest training runs, and of the latest eval runs, to show.
    public var latestRuns: Int
    /// Longer series are thinned to about this many points (every k-th, keeping the last), so a
    /// 100k-step run still draws quickly.
    public var maxPointsPerSeries: Int
    /// At most this many disagreeing items are listed (the count of all of them is shown).
    public var maxDisagreements: Int
    /// For the dashboard: the page polls `pollPath` and reloads `viewPath` into the page when it changes.
    public var live: LiveRefresh?

    public init(logScale: Bool = false, title: String = "hayai report", latestRuns: Int = 5,
                maxPointsPerSeries: Int = 2000, maxDisagreements: Int = 500, live: LiveRefresh? = nil) {
        self.logScale = logScale; self.title = title; self.latestRuns = latestRuns
        self.maxPointsPerSeries = maxPointsPerSeries; self.maxDisagreements = maxDisagreements; self.live = live
    }
}

public struct LiveRefresh: Sendable {
    public var pollPath: String
    public var viewPath: String
    public var intervalMilliseconds: Int

    public init(pollPath: String, viewPath: String, intervalMilliseconds: Int = 2000) {
        self.pollPath = pollPath; self.viewPath = viewPath; self.intervalMilliseconds = intervalMilliseconds
    }
}

/// One item that two eval runs scored differently (one right, one wrong).
public struct Disagreement: Sendable, Equatable {
    public var task: String
    public var itemIndex: Int
    public var question: String
    public var choices: [String]
    public var runA: String
    public var predictionA: String?
    public var correctA: Bool
    public var runB: String
    public var predictionB: String?
    public var correctB: Bool
    public var gold: String?
}

/// Everything a report draws, read once.
public struct ReportData: Sendable {
    /// Runs with metrics, in the order given (charts, legend colours).
    public var trainingRuns: [Run]
    /// run name → metric name → points in step order.
    public var metrics: [String: [String: [MetricPoint]]]
    public var evalRuns: [Run]
    /// run name → scores.
    public var evalResults: [String: [EvalResult]]
    public var disagreements: [Disagreement]
    /// All disagreeing items, of which `disagreements` holds the first `maxDisagreements`.
    public var disagreementCount: Int
    public var workspace: String
    public var generatedAt: Date

    /// Reads what `names` select (all of them must exist), or the latest runs when `names` is empty.
    public static func load(store: RunStore, runs names: [String], options: ReportOptions = ReportOptions()) throws -> ReportData {
        let chosen = try selectRuns(store: store, names: names, latest: options.latestRuns)
        var data = ReportData(trainingRuns: [], metrics: [:], evalRuns: [], evalResults: [:], disagreements: [],
                              disagreementCount: 0, workspace: store.workspace.path, generatedAt: Date())
        for run in chosen {
            let points = try store.metrics(run: run)
            if !points.isEmpty {
                data.trainingRuns.append(run)
                var byName: [String: [MetricPoint]] = [:]
                for p in points { byName[p.name, default: []].append(p) }
                data.metrics[run.name] = byName.mapValues { thin($0, to: options.maxPointsPerSeries) }
            }
            let results = try store.evalResults(run: run)
            if !results.isEmpty || run.kind == .eval {
                data.evalRuns.append(run)
                data.evalResults[run.name] = results
            }
        }
        try data.loadDisagreements(store: store, limit: options.maxDisagreements)
        return data
    }

    /// The runs named (each must exist), or without names the `latest` newest training runs
    /// (pretrain, sft) followed by the `latest` newest eval runs.
    public static func selectRuns(store: RunStore, names: [String], latest: Int) throws -> [Run] {
        guard names.isEmpty else { return try names.map { try store.requireRun(named: $0) } }
        let training = (try store.runs(kind: .pretrain, limit: latest) + store.runs(kind: .sft, limit: latest))
            .sorted { ($0.startedAt, $0.id ?? 0) > ($1.startedAt, $1.id ?? 0) }.prefix(latest)
        return Array(training) + (try store.runs(kind: .eval, limit: latest))
    }

    /// Every k-th point and the last, when there are more than `limit`.
    static func thin(_ points: [MetricPoint], to limit: Int) -> [MetricPoint] {
        guard limit > 1, points.count > limit else { return points }
        let stride = (points.count + limit - 1) / limit
        var kept = Swift.stride(from: 0, to: points.count, by: stride).map { points[$0] }
        if kept.last?.step != points.last?.step { kept.append(points.last!) }
        return kept
    }

    /// The first eval run against each other one, task by task, on items both scored as right or wrong.
    mutating func loadDisagreements(store: RunStore, limit: Int) throws {
        guard let first = evalRuns.first else { return }
        let tasksA = Set((evalResults[first.name] ?? []).map(\.task))
        for other in evalRuns.dropFirst() {
            let tasksB = Set((evalResults[other.name] ?? []).map(\.task))
            for task in tasksA.intersection(tasksB).sorted() {
                let itemsB = Dictionary(try store.evalItems(run: other, task: task).map { ($0.itemIndex, $0) }) { a, _ in a }
                for a in try store.evalItems(run: first, task: task) {
                    guard let b = itemsB[a.itemIndex], let ca = a.correct, let cb = b.correct, (ca != 0) != (cb != 0) else { continue }
                    disagreementCount += 1
                    guard disagreements.count < limit else { continue }
                    let doc = a.doc ?? b.doc
                    disagreements.append(Disagreement(
                        task: task, itemIndex: a.itemIndex, question: Self.question(doc: doc, prompt: a.prompt ?? b.prompt, index: a.itemIndex),
                        choices: Self.choices(doc: doc), runA: first.name, predictionA: a.prediction, correctA: ca != 0,
                        runB: other.name, predictionB: b.prediction, correctB: cb != 0, gold: a.target ?? b.target))
                }
            }
        }
    }

    /// The question of an item: the task document's usual question field (lm-eval and JGLUE names),
    /// else the end of the rendered prompt.
    static func question(doc: String?, prompt: String?, index: Int) -> String {
        if let doc, case .object(let fields)? = try? JSONValue.parse(doc) {
            func text(_ key: String) -> String? { if case .string(let s)? = fields[key], !s.isEmpty { return s }; return nil }
            if let premise = text("sentence1"), let hypothesis = text("sentence2") { return premise + "\n⇒ " + hypothesis }
            for key in ["question", "query", "sentence", "premise", "context", "ctx", "text", "input", "instruction", "prompt"] {
                if let value = text(key) { return value }
            }
        }
        if let prompt, !prompt.isEmpty { return prompt.count > 600 ? "…" + prompt.suffix(600) : prompt }
        return "item \(index)"
    }

    /// The answer options of a multiple-choice document: `choices`, `choice0`…, or `option1`/`option2`.
    static func choices(doc: String?) -> [String] {
        guard let doc, case .object(let fields)? = try? JSONValue.parse(doc) else { return [] }
        if case .array(let values)? = fields["choices"] {
            return values.compactMap { if case .string(let s) = $0 { return s }; return nil }
        }
        for (prefix, start) in [("choice", 0), ("option", 1)] {
            var found: [String] = []
            var i = start
            while case .string(let s)? = fields["\(prefix)\(i)"] { found.append(s); i += 1 }
            if !found.isEmpty { return found }
        }
        return []
    }

    /// Metric names across the training runs, in a fixed order of charts.
    var metricNames: Set<String> { Set(metrics.values.flatMap(\.keys)) }
}
