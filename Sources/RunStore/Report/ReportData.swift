// What a report shows, read from the store: the runs chosen (those named, else the latest few), their
// metric series, the eval runs' scores, and the stored comparisons between them (paired differences
// and the items where the two disagree, as `hayai compare` computed them).
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

/// One item that two eval runs scored differently, as their stored comparison found it.
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
    /// Stored comparisons of the eval runs shown (and compare runs named): paired differences with intervals.
    public var comparisons: [(run: Run, record: ComparisonRecord)]
    /// The items where a comparison's two runs disagree, from the stored comparisons.
    public var disagreements: [Disagreement]
    /// All disagreeing items, of which `disagreements` holds the first `maxDisagreements`.
    public var disagreementCount: Int
    public var workspace: String
    public var generatedAt: Date

    /// Reads what `names` select (all of them must exist), or the latest runs when `names` is empty.
    public static func load(store: RunStore, runs names: [String], options: ReportOptions = ReportOptions()) throws -> ReportData {
        let chosen = try selectRuns(store: store, names: names, latest: options.latestRuns)
        var data = ReportData(trainingRuns: [], metrics: [:], evalRuns: [], evalResults: [:], comparisons: [], disagreements: [],
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
            if run.kind != .compare && (!results.isEmpty || run.kind == .eval) {
                data.evalRuns.append(run)
                data.evalResults[run.name] = results
            }
        }
        try data.loadComparisons(store: store, named: chosen, limit: options.maxDisagreements)
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

    /// Stored comparisons (`hayai compare`) between eval runs shown here, the newest for each pair, and
    /// the compare runs named; their disagreeing items are the report's (paired as the comparison paired them).
    mutating func loadComparisons(store: RunStore, named: [Run], limit: Int) throws {
        let shown = Set(evalRuns.map(\.name))
        var chosen: [Run] = named.filter { $0.kind == .compare }
        var pairs = Set(chosen.compactMap { $0.comparison.map { "\($0.a)\u{0}\($0.b)" } })
        for run in try store.runs(kind: .compare, status: .completed) {   // newest first
            guard let record = run.comparison, shown.contains(record.a), shown.contains(record.b) else { continue }
            if pairs.insert("\(record.a)\u{0}\(record.b)").inserted { chosen.append(run) }
        }
        for run in chosen {
            guard let record = run.comparison else { continue }
            comparisons.append((run, record))
            for task in record.tasks {
                for item in task.disagreements {
                    disagreementCount += 1
                    guard disagreements.count < limit else { continue }
                    disagreements.append(Disagreement(
                        task: task.task, itemIndex: item.index, question: item.question, choices: item.choices, runA: record.a,
                        predictionA: item.a, correctA: item.aCorrect ?? false, runB: record.b, predictionB: item.b,
                        correctB: item.bCorrect ?? false, gold: item.gold))
                }
            }
        }
    }

    /// Metric names across the training runs, in a fixed order of charts.
    var metricNames: Set<String> { Set(metrics.values.flatMap(\.keys)) }
}
