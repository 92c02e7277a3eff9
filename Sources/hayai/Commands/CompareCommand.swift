// `hayai compare`: two eval runs (or two models, evaluated first) side by side, task by task, with a
// paired-bootstrap confidence interval of the difference, McNemar's test for accuracies, and the
// items where the two disagree.
import ArgumentParser
import Foundation
import Evaluation
import Inference
import RunStore

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two eval runs, or two models, task by task.",
        discussion: """
            A and B are eval run names from the store, or model paths (a Hugging Face folder or a .gguf file),
            which are then evaluated on --tasks first. Differences are B − A with a 95% paired-bootstrap
            interval over the shared items; accuracy metrics also get McNemar's exact p.
            """)

    @Argument(help: "Eval run name or model path (the baseline).")
    var a: String

    @Argument(help: "Eval run name or model path (compared against A).")
    var b: String

    @Option(name: .long, parsing: .upToNextOption, help: "Tasks to evaluate when A or B is a model; commas or spaces.")
    var tasks: [String] = []

    @Option(help: "With models: evaluate only the first N items of each task.")
    var limit: Int?

    @Option(help: "Workspace holding hayai.sqlite (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(help: "Folder of task files (default: the repository's evalsets/).")
    var evalsets: String?

    @Option(help: "Disagreeing items listed per task.")
    var show: Int = 10

    @Option(name: [.short, .long], help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        CLI.setThreads(threads)
        let store = try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
        let runA = try resolve(a, store: store), runB = try resolve(b, store: store)
        let comparison = try Comparison.make(store: store, a: runA, b: runB)
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(comparison), as: UTF8.self))
        } else {
            print(comparison.text(show: show))
        }
    }

    /// A stored eval run, or a model evaluated now into a new eval run.
    func resolve(_ nameOrPath: String, store: RunStore) throws -> Run {
        if let run = try store.run(named: nameOrPath) {
            guard run.kind == .eval else { throw UserError("run \(nameOrPath) is a \(run.kind.rawValue) run, not an eval run") }
            return run
        }
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            throw UserError("\(nameOrPath): neither an eval run in the store nor a model path")
        }
        let names = tasks.flatMap { $0.split(separator: ",").map(String.init) }
        guard !names.isEmpty else { throw UserError("\(nameOrPath) is a model: give --tasks to evaluate it on") }
        let evalTasks = try names.map { try EvalSets.load($0, folder: evalsets) }
        let model = try LocalLanguageModel(path: nameOrPath)
        let config = EvalRunConfig(model: nameOrPath, tasks: names, limit: limit, numFewshot: nil, reuseContext: true)
        return try EvalSession(store: store, model: model, config: config).run(evalTasks, name: nil, resume: nil, skipBadLines: false).run
    }
}

/// Two eval runs compared on the tasks both have.
struct Comparison: Codable {
    struct MetricRow: Codable {
        var metric: String
        var a: Double
        var b: Double
        var difference: Double
        var lower: Double?
        var upper: Double?
        var mcnemarP: Double?
    }
    struct Item: Codable {
        var index: Int
        var question: String
        var a: String
        var b: String
        var gold: String
        var aCorrect: Bool?
        var bCorrect: Bool?
    }
    struct TaskRow: Codable {
        var task: String
        var promptVersionA: String?
        var promptVersionB: String?
        var items: Int
        var metrics: [MetricRow]
        var disagreements: [Item]
    }
    var a: String
    var b: String
    var modelA: String?
    var modelB: String?
    var tasks: [TaskRow]

    static func make(store: RunStore, a: Run, b: Run) throws -> Comparison {
        let resultsA = try store.evalResults(run: a), resultsB = try store.evalResults(run: b)
        let taskNames = Array(Set(resultsA.map(\.task)).intersection(resultsB.map(\.task))).sorted()
        guard !taskNames.isEmpty else { throw UserError("runs \(a.name) and \(b.name) have no task in common") }
        var rows: [TaskRow] = []
        for task in taskNames {
            let itemsA = try StoreSink.items(store: store, run: a, task: task)
            let itemsB = try StoreSink.items(store: store, run: b, task: task)
            let indexB = Set(itemsB.map(\.index))
            let shared = itemsA.filter { indexB.contains($0.index) }.count
            var metrics: [MetricRow] = []
            for ra in resultsA where ra.task == task {
                guard let rb = resultsB.first(where: { $0.task == task && $0.metric == ra.metric }) else { continue }
                var row = MetricRow(metric: ra.metric, a: ra.value, b: rb.value, difference: rb.value - ra.value)
                // Per-item metrics allow a paired interval; aggregate-only ones (perplexity) do not.
                if itemsA.contains(where: { $0.metrics[ra.metric] != nil }) {
                    let boot = CompareStats.pairedBootstrap(itemsA, itemsB, metric: ra.metric)
                    row.lower = boot.lower; row.upper = boot.upper
                }
                if ra.metric == "acc" { row.mcnemarP = CompareStats.mcnemar(itemsA, itemsB).exactP }
                metrics.append(row)
            }
            let disagreements = CompareStats.disagreements(itemsA, itemsB).map {
                Item(index: $0.index, question: lastLines($0.a.prompt), a: $0.a.prediction, b: $0.b.prediction, gold: $0.a.target,
                     aCorrect: $0.a.correct, bCorrect: $0.b.correct)
            }
            rows.append(TaskRow(task: task, promptVersionA: resultsA.first { $0.task == task }?.promptVersion,
                                promptVersionB: resultsB.first { $0.task == task }?.promptVersion,
                                items: shared, metrics: metrics, disagreements: disagreements))
        }
        return Comparison(a: a.name, b: b.name, modelA: a.model, modelB: b.model, tasks: rows)
    }

    /// The item's own part of a prompt: after the last blank line (few-shot examples and instructions
    /// come before it), cut to `limit` characters from the end.
    static func lastLines(_ prompt: String, limit: Int = 160) -> String {
        let trimmed = prompt.trimmingCharacters(in: .whitespacesAndNewlines)
        let own = trimmed.range(of: "\n\n", options: .backwards).map { String(trimmed[$0.upperBound...]) } ?? trimmed
        return own.count > limit ? "…" + String(own.suffix(limit)) : own
    }

    func text(show: Int) -> String {
        var out = "A: \(a) (\(modelA ?? "?"))\nB: \(b) (\(modelB ?? "?"))\n\n"
        var rows = [["task", "prompt A/B", "n", "metric", "A", "B", "B − A", "95% CI", "McNemar p"]]
        for t in tasks {
            for m in t.metrics {
                let ci = m.lower.map { String(format: "[%+.3f, %+.3f]", $0, m.upper!) } ?? "-"
                rows.append([t.task, "\(t.promptVersionA ?? "-")/\(t.promptVersionB ?? "-")", "\(t.items)", m.metric,
                             String(format: "%.4f", m.a), String(format: "%.4f", m.b), String(format: "%+.4f", m.difference), ci,
                             m.mcnemarP.map { String(format: "%.3g", $0) } ?? "-"])
            }
        }
        out += TextTable.render(rows) + "\n"
        for t in tasks where !t.disagreements.isEmpty && show > 0 {
            out += "\n\(t.task): \(t.disagreements.count) items where A and B disagree"
            out += t.disagreements.count > show ? " (first \(show))\n" : "\n"
            for d in t.disagreements.prefix(show) {
                func mark(_ c: Bool?) -> String { c.map { $0 ? "✓" : "✗" } ?? " " }
                out += "  #\(d.index) \(d.question.replacingOccurrences(of: "\n", with: " ⏎ "))\n"
                out += "      A \(mark(d.aCorrect)) \(d.a)   B \(mark(d.bCorrect)) \(d.b)   gold: \(d.gold)\n"
            }
        }
        return out
    }
}
