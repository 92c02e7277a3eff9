// `hayai runs`: list, inspect, export and remove the runs stored in a workspace's hayai.sqlite.
import Basics
import ArgumentParser
import Foundation
import RunStore
import Workbench

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List, inspect, export and remove stored training and eval runs.",
        discussion: """
            Runs live in hayai.sqlite in the workspace: --home, else $HAYAI_HOME, else ./hayai-runs. \
            A run whose process died without finishing is shown as interrupted; what it logged is kept.
            """,
        subcommands: [List.self, Show.self, Export.self, Remove.self, WriteTestMetrics.self],
        defaultSubcommand: List.self
    )
}

struct WorkspaceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Workspace folder holding hayai.sqlite (default: $HAYAI_HOME, else ./hayai-runs).", valueName: "path"))
    var home: String?

    func openStore() throws -> RunStore {
        try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
    }

    /// The store for a command that only reads it: read-only, with a note on standard error, when it cannot be written.
    func openStoreForReading() throws -> RunStore {
        let store = try RunStore.openForReading(workspace: home.map { URL(fileURLWithPath: $0) })
        if let reason = store.readOnlyReason { CLI.printError("note: reading the run store read-only (\(reason))") }
        return store
    }
}

extension RunKind: ExpressibleByArgument {}
extension RunStatus: ExpressibleByArgument {}

extension RunsCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Show runs, newest first, with their key final metrics."
        )

        @OptionGroup var workspace: WorkspaceOptions
        @Option(help: "Only runs of this kind (\(RunKind.allCases.map(\.rawValue).joined(separator: ", "))).")
        var kind: RunKind?
        @Option(help: "Only runs with this status (\(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))).")
        var status: RunStatus?
        @Option(help: "Only runs whose name contains this text (or matches it as a SQL LIKE pattern when it holds %).")
        var name: String?
        @Option(help: "At most this many runs.")
        var limit: Int?
        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func validate() throws {
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1.") }
        }

        func run() throws {
            let store = try workspace.openStoreForReading()
            let runs = try store.runs(kind: kind, status: status, nameLike: name, limit: limit)
            if json {
                print(try RunsFormat.json(try runs.map { try RunsFormat.runObject($0, store: store) }))
                return
            }
            guard !runs.isEmpty else {
                print("no runs in \(store.workspace.path)")
                return
            }
            var rows = [["NAME", "KIND", "MODEL", "STATUS", "STARTED", "DURATION", "METRICS"]]
            for run in runs {
                let metrics = RunsFormat.keyMetrics(try RunsFormat.finalValues(run, store: store))
                rows.append([run.name, run.kind.rawValue, RunsFormat.shorten(run.model ?? "-", to: 32), run.status.rawValue,
                             RunsFormat.localTime(run.startedAt), RunsFormat.duration(RunsFormat.elapsed(run)),
                             metrics.map { "\($0.0)=\(RunsFormat.number($0.1))" }.joined(separator: " ")])
            }
            print(RunsFormat.table(rows), terminator: "")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show a run: its config, every metric's last and best value, and its eval results."
        )

        @OptionGroup var workspace: WorkspaceOptions
        @Argument(help: "The run's name.")
        var name: String
        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            let store = try workspace.openStoreForReading()
            let run = try store.requireRun(named: name)
            let stats = try store.metricStats(run: run)
            let results = try store.evalResults(run: run)
            if json {
                var object = try RunsFormat.runObject(run, store: store)
                object["metrics"] = stats.map { s -> [String: Any] in
                    ["name": s.name, "count": s.count, "last_step": s.lastStep, "last": RunsFormat.jsonNumber(s.last),
                     "min": RunsFormat.jsonNumber(s.min), "min_step": s.minStep, "max": RunsFormat.jsonNumber(s.max)]
                }
                object["eval_results"] = results.map { r -> [String: Any] in
                    ["task": r.task, "metric": r.metric, "value": RunsFormat.jsonNumber(r.value),
                     "stderr": r.stderr.map(RunsFormat.jsonNumber) ?? NSNull(), "n": r.n, "num_fewshot": r.numFewshot,
                     "fewshot_seed": r.fewshotSeed ?? NSNull(), "task_version": r.taskVersion ?? NSNull(),
                     "prompt_version": r.promptVersion ?? NSNull()]
                }
                print(try RunsFormat.json(object))
                return
            }
            var fields: [[String]] = [
                ["name", run.name], ["kind", run.kind.rawValue], ["status", run.status.rawValue], ["model", run.model ?? "-"],
                ["parent", run.parent ?? "-"], ["started", RunsFormat.localTime(run.startedAt)],
                ["ended", run.endedAt.map(RunsFormat.localTime) ?? "-"], ["duration", RunsFormat.duration(RunsFormat.elapsed(run))],
                ["process", "pid \(run.pid.map(String.init) ?? "?") on \(run.host ?? "?")"],
            ]
            if let notes = run.notes { fields.append(["notes", notes]) }
            print(RunsFormat.table(fields), terminator: "")
            print("\nconfig")
            print(RunsFormat.prettyJSON(run.config))
            if !stats.isEmpty {
                print("")
                var rows = [["METRIC", "POINTS", "LAST STEP", "LAST", "MIN", "MIN STEP", "MAX"]]
                for s in stats {
                    rows.append([s.name, "\(s.count)", "\(s.lastStep)", RunsFormat.number(s.last), RunsFormat.number(s.min),
                                 "\(s.minStep)", RunsFormat.number(s.max)])
                }
                print(RunsFormat.table(rows), terminator: "")
            }
            if !results.isEmpty {
                print("")
                var rows = [["TASK", "METRIC", "VALUE", "STDERR", "N", "FEWSHOT"]]
                for r in results {
                    rows.append([r.task, r.metric, RunsFormat.number(r.value), r.stderr.map(RunsFormat.number) ?? "-", "\(r.n)",
                                 "\(r.numFewshot)"])
                }
                print(RunsFormat.table(rows), terminator: "")
            }
        }
    }

    struct Export: ParsableCommand {
        enum Format: String, ExpressibleByArgument, CaseIterable { case csv, jsonl, wandb, lmEval = "lm-eval" }

        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a run's metrics (an eval run's items) as CSV, JSON lines, or a Weights & Biases run folder.",
            discussion: """
                csv: step,tokens,name,value,time — one row per point (an eval run:                 task,item_index,correct,prediction,target,metrics — one row per item).

                jsonl: one object per step with all its metrics (an eval run: one object per item, with its document and prompt).

                wandb: a folder with wandb-history.jsonl, wandb-summary.json, config.yaml and wandb-metadata.json, \
                as in a W&B run's files/ folder (default ./NAME-wandb).

                lm-eval (an eval run): a folder with results.json and samples_TASK.jsonl per task, in \
                lm-evaluation-harness 0.4's shapes (default ./NAME-lm-eval).
                """
        )

        @OptionGroup var workspace: WorkspaceOptions
        @Argument(help: "The run's name.")
        var name: String
        @Option(help: "csv, jsonl, wandb or lm-eval.")
        var format: Format = .csv
        @Option(name: [.short, .customLong("output"), .customLong("out")],
                help: ArgumentHelp("Where to write (a file, or a folder for wandb and lm-eval; default: standard output, or ./NAME-wandb, ./NAME-lm-eval).", valueName: "path"))
        var output: String?
        @Option(help: ArgumentHelp("lm-eval: the folder of task files the run used (default: the repository's evalsets/).", valueName: "dir"))
        var evalsets: String?

        func run() throws {
            let store = try workspace.openStoreForReading()
            let run = try store.requireRun(named: name)
            switch format {
            case .csv, .jsonl:
                let metricsFormat: MetricsFormat = format == .csv ? .csv : .jsonl
                if let output {
                    try store.export(run: run, format: metricsFormat, to: URL(fileURLWithPath: output))
                } else {
                    var pending = ""
                    try store.export(run: run, format: metricsFormat) { piece in
                        pending += piece
                        if pending.utf8.count >= 1 << 16 { FileHandle.standardOutput.write(Data(pending.utf8)); pending = "" }
                    }
                    FileHandle.standardOutput.write(Data(pending.utf8))
                }
            case .wandb:
                let folder = URL(fileURLWithPath: output ?? "\(run.name)-wandb")
                try store.exportWandb(run: run, to: folder)
                print(folder.path)
            case .lmEval:
                let folder = output ?? "\(run.name)-lm-eval"
                let written = try LMEvalExport.write(store: store, run: run, resultsPath: (folder as NSString).appendingPathComponent("results.json"),
                                                     logSamples: true, evalsets: evalsets)
                print(([written.results] + written.samples).joined(separator: "\n"))
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Delete a run with its metrics and eval results (checkpoint folders are left alone)."
        )

        @OptionGroup var workspace: WorkspaceOptions
        @Argument(help: "The run's name.")
        var name: String
        @Flag(help: "Delete it even while its process is still running.")
        var force = false

        func run() throws {
            let store = try workspace.openStore()
            try store.deleteRun(named: name, force: force)
            print("removed \(name)")
        }
    }

    /// Logs metrics in a loop, printing `step N` after each step is committed, so that tests can kill
    /// it at any moment and check that every printed step is in the store. Hidden from help.
    struct WriteTestMetrics: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "write-test-metrics",
            abstract: "Log synthetic metrics in a loop (for the run store's crash tests).",
            shouldDisplay: false
        )

        @OptionGroup var workspace: WorkspaceOptions
        @Option var name: String?
        @Option var steps = 1_000_000
        @Option(help: "Pause between steps, in milliseconds.")
        var intervalMs = 0
        @Option var heartbeatEvery = 10

        func run() throws {
            let store = try workspace.openStore()
            let run = try store.createRun(kind: .pretrain, name: name, model: "synthetic", config: #"{"test": true}"#)
            FileHandle.standardOutput.write(Data("run \(run.name)\n".utf8))
            for step in 0..<steps {
                let loss = 10 * exp(-Double(step) / 100) + 1
                try store.log(run: run, step: step, tokens: (step + 1) * 1024,
                              metrics: ["train/loss": loss, "lr": 3e-4, "tokens_per_second": 1000 + Double(step % 7)])
                if heartbeatEvery > 0, step % heartbeatEvery == 0 { try store.heartbeat(run: run) }
                FileHandle.standardOutput.write(Data("step \(step)\n".utf8))
                if intervalMs > 0 { usleep(useconds_t(intervalMs) * 1000) }
            }
            try store.finish(run: run)
            FileHandle.standardOutput.write(Data("finished\n".utf8))
        }
    }
}

/// Text and JSON rendering shared by the `runs` subcommands.
enum RunsFormat {
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            let cells = row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return String(format: "%.4g", value)
    }

    static func jsonNumber(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

    static func localTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    static func isoTime(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// A running run's age so far; otherwise start to end (or to its last heartbeat).
    static func elapsed(_ run: Run) -> TimeInterval? {
        run.status == .running ? max(0, Date().timeIntervalSince(run.startedAt)) : run.duration
    }

    static func duration(_ seconds: TimeInterval?) -> String { Durations.text(seconds) }

    static func shorten(_ text: String, to length: Int) -> String {
        text.count <= length ? text : "…" + text.suffix(length - 1)
    }

    /// The stored summary of a finished run; the latest values while it runs; eval scores as task/metric.
    static func finalValues(_ run: Run, store: RunStore) throws -> [String: Double] {
        var values = run.summaryValues
        if values.isEmpty { values = try store.lastValues(run: run) }
        for result in try store.evalResults(run: run) { values["\(result.task)/\(result.metric)"] = result.value }
        return values
    }

    /// Up to three metrics worth a glance: validation then training loss, else eval scores.
    static func keyMetrics(_ values: [String: Double]) -> [(String, Double)] {
        let preferred = ["val/loss", "val/bpb", "train/loss"]
        // Rates say how fast, not how good: an eval's per-task items/s and tokens/s are skipped too.
        let skipped: Set<String> = ["lr", "grad_norm", "tokens_per_second", "items_per_second"]
        var keys = preferred.filter { values[$0] != nil }
        keys += values.keys.filter { !preferred.contains($0) && !skipped.contains(String($0.split(separator: "/").last ?? "")) }.sorted()
        return keys.prefix(3).map { ($0, values[$0]!) }
    }

    static func runObject(_ run: Run, store: RunStore) throws -> [String: Any] {
        let config = (try? JSONValue.parse(run.config))?.foundationObject ?? run.config
        return [
            "name": run.name, "kind": run.kind.rawValue, "model": run.model ?? NSNull(), "status": run.status.rawValue,
            "pid": run.pid.map { Int($0) } ?? NSNull(), "host": run.host ?? NSNull(),
            "started_at": isoTime(run.startedAt), "ended_at": run.endedAt.map(isoTime) ?? NSNull(),
            "heartbeat_at": run.heartbeatAt.map(isoTime) ?? NSNull(),
            "duration_s": elapsed(run) ?? NSNull(), "parent": run.parent ?? NSNull(), "notes": run.notes ?? NSNull(),
            "config": config, "summary": try finalValues(run, store: store).mapValues(jsonNumber),
        ]
    }

    static func json(_ object: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    static func prettyJSON(_ text: String) -> String {
        guard let value = try? JSONValue.parse(text), let pretty = try? json(value.foundationObject) else { return text }
        return pretty
    }
}
