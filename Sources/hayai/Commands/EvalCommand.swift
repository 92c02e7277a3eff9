// `hayai eval`: score a model on evalsets and keep every item and score in the run store.
import ArgumentParser
import Foundation
import Evaluation
import Inference
import RunStore

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model on evaluation tasks.",
        discussion: """
            TASKS are names of files in evalsets/ (jcommonsenseqa-0.2, xwinograd-ja, hayai-mini-en, ...) or paths
            to task YAML files. Results and every item's output go to the run store (hayai runs show NAME);
            --resume NAME continues an interrupted eval, skipping the items already stored. Data sets the
            repository does not ship are read from $HAYAI_DATA (see each task file's `download`).
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: .long, parsing: .upToNextOption, help: "Tasks (names in evalsets/ or YAML paths); commas or spaces.")
    var tasks: [String] = []

    @Option(help: "Evaluate only the first N items of each task.")
    var limit: Int?

    @Option(help: "Override each task's number of few-shot examples.")
    var numFewshot: Int?

    @Option(help: "Name of the eval run (default: generated).")
    var name: String?

    @Option(help: "Continue the eval run of this name.")
    var resume: String?

    @Option(help: "Workspace holding hayai.sqlite (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(help: "Folder of task files (default: the repository's evalsets/).")
    var evalsets: String?

    @Option(name: .customLong("ctx"), help: "Context length (default: the model's, at most 4096).")
    var contextLength: Int?

    @Flag(help: "Score each choice with its context recomputed (no KV reuse; for benchmarks).")
    var noReuse = false

    @Flag(help: "Skip malformed lines in the data files (counted) instead of stopping.")
    var skipBadLines = false

    @Flag(help: "Print the results as JSON.")
    var json = false

    func validate() throws {
        guard !taskNames.isEmpty else { throw ValidationError("give at least one task: --tasks NAME[,NAME...]") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if name != nil && resume != nil { throw ValidationError("--name and --resume cannot be used together") }
    }

    var taskNames: [String] { tasks.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty } }

    func run() throws {
        CLI.setThreads(options.threads)
        let store = try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
        let evalTasks = try taskNames.map { try EvalSets.load($0, folder: evalsets) }
        let model = try LocalLanguageModel(path: options.model, adapter: options.adapter, contextLength: contextLength)
        let config = EvalRunConfig(model: options.model, adapter: options.adapter, tasks: taskNames, limit: limit, numFewshot: numFewshot, reuseContext: !noReuse)
        let results = try EvalSession(store: store, model: model, config: config)
            .run(evalTasks, name: name, resume: resume, skipBadLines: skipBadLines, quiet: json)
        if json {
            let data = try JSONEncoder.sorted.encode(results.tasks)
            print("{\"run\":\(JSON.string(results.run.name)),\"tasks\":\(String(decoding: data, as: UTF8.self))}")
        } else {
            print(EvalTable.render(results.tasks))
            print("stored as eval run \(results.run.name) (hayai runs show \(results.run.name))")
        }
    }
}

/// What an eval run was asked to do (stored as the run's config).
struct EvalRunConfig: Codable {
    var model: String
    /// The LoRA adapter run beside `model`, if any.
    var adapter: String? = nil
    var tasks: [String]
    var limit: Int?
    var numFewshot: Int?
    var reuseContext: Bool
}

/// Runs tasks on one model into one eval run of the store, resumable item by item.
struct EvalSession {
    let store: RunStore
    let model: LocalLanguageModel
    let config: EvalRunConfig

    func run(_ tasks: [EvalTask], name: String?, resume: String?, skipBadLines: Bool, quiet: Bool = false)
        throws -> (run: Run, tasks: [TaskResult])
    {
        var run: Run
        if let resume {
            run = try store.requireRun(named: resume)
            guard run.kind == .eval else { throw UserError("run \(resume) is a \(run.kind.rawValue) run, not an eval run") }
            run = try store.resume(run: run)
        } else {
            run = try store.createRun(kind: .eval, name: name, model: config.model, config: config)
        }
        var options = RunOptions(limit: config.limit, reuseContext: config.reuseContext, numFewshot: config.numFewshot)
        options.skipBadLines = skipBadLines
        let runner = Runner(model: model, options: options)
        var results: [TaskResult] = []
        do {
            for task in tasks {
                // One task in several prompt versions (jcommonsenseqa 0.2 and 0.3) is stored as several tasks.
                let key = task.promptVersion.map { "\(task.name)-\($0)" } ?? task.name
                let sink = try StoreSink(store: store, run: run, task: key)
                var progress: ProgressLine?
                var result = try runner.run(task, sink: sink) { p in
                    guard !quiet else { return }
                    if progress == nil { progress = ProgressLine(label: "eval \(key)", total: p.total) }
                    progress!.update(step: p.completed, extra: [("items/s", CLI.fixed(p.itemsPerSecond))])
                }
                progress?.finish()
                result.task = key
                if !quiet { CLI.printError("\(key): \(result.itemCount) items, \(CLI.fixed(result.itemsPerSecond)) items/s") }
                try store.saveEvalResults(result.metrics.map {
                    EvalResult(task: key, taskVersion: result.version, promptVersion: result.promptVersion,
                               numFewshot: result.numFewshot, fewshotSeed: Int(truncatingIfNeeded: result.fewshotSeed),
                               metric: $0.name, value: $0.value, stderr: $0.stderr, n: result.itemCount)
                }, run: run)
                results.append(result)
            }
        } catch {
            _ = try? store.finish(run: run, status: .failed)
            throw error
        }
        var summary: [String: Double] = [:]
        for r in results { for m in r.metrics { summary["\(r.task)/\(m.name)"] = m.value } }
        run = try store.finish(run: run, status: .completed, summary: summary)
        return (run, results)
    }
}

/// Per-item results into the store as they are produced; what is stored already is not scored again.
final class StoreSink: ResultSink {
    let store: RunStore, run: Run, task: String
    private(set) var completedItems: [Int: ItemResult] = [:]

    init(store: RunStore, run: Run, task: String) throws {
        self.store = store; self.run = run; self.task = task
        for item in try store.evalItems(run: run, task: task) {
            if let text = item.scores, let result = try? JSONDecoder().decode(ItemResult.self, from: Data(text.utf8)) {
                completedItems[item.itemIndex] = result
            }
        }
    }

    func record(_ item: ItemResult) throws {
        let encoder = JSONEncoder.sorted
        try store.saveEvalItem(EvalItem(
            task: task, itemIndex: item.index, doc: item.doc.description, prompt: item.prompt, prediction: item.prediction,
            target: item.target, scores: String(decoding: try encoder.encode(item), as: UTF8.self),
            correct: item.correct.map { $0 ? 1 : 0 }, metrics: String(decoding: try encoder.encode(item.metrics), as: UTF8.self)), run: run)
        completedItems[item.index] = item
    }

    /// A run's stored items for a task, as the scorer produced them.
    static func items(store: RunStore, run: Run, task: String) throws -> [ItemResult] {
        try StoreSink(store: store, run: run, task: task).completedItems.values.sorted { $0.index < $1.index }
    }
}

/// Finding task files: TaskCatalog's search paths, with the --evalsets folder first and the
/// repository's evalsets/ (found from the current directory or the executable) last.
enum EvalSets {
    static func load(_ nameOrPath: String, folder explicit: String?) throws -> EvalTask {
        var paths = TaskCatalog.searchPaths()
        if let explicit { paths.insert(explicit, at: 0) }
        if let repository = CLI.findRepositoryFolder("evalsets"), !paths.contains(repository) { paths.append(repository) }
        return try TaskCatalog.load(nameOrPath, searchPaths: paths)
    }
}

/// The plain-text results table.
enum EvalTable {
    static func render(_ results: [TaskResult]) -> String {
        var rows = [["task", "version", "prompt", "shots", "metric", "value", "± stderr", "n", "items/s"]]
        for r in results {
            for m in r.metrics {
                rows.append([r.task, r.version, r.promptVersion ?? "-", "\(r.numFewshot)", m.name, String(format: "%.4f", m.value),
                             m.stderr.map { String(format: "%.4f", $0) } ?? "-", "\(r.itemCount)", String(format: "%.1f", r.itemsPerSecond)])
            }
        }
        return TextTable.render(rows)
    }
}

/// Columns padded to their widest cell (display width: CJK characters count two).
enum TextTable {
    static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + (($1.value >= 0x1100 && ($1.value <= 0x115F || (0x2E80...0xA4CF).contains($1.value)
            || (0xAC00...0xD7A3).contains($1.value) || (0xF900...0xFAFF).contains($1.value) || (0xFF00...0xFF60).contains($1.value)
            || (0xFFE0...0xFFE6).contains($1.value))) ? 2 : 1) }
    }

    static func render(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? width($0[c]) : 0 }.max() ?? 0 }
        return rows.enumerated().map { i, row in
            let line = row.enumerated().map { c, cell in cell + String(repeating: " ", count: widths[c] - width(cell)) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            return i == 0 ? line + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") : line
        }.joined(separator: "\n")
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
}
