// Exports of a run's metrics for other tools.
//
// csv    header `step,tokens,name,value,time`, one row per point in step then name order; tokens is
//        empty when unknown, value is `nan`/`inf`/`-inf` when not finite, time is Unix seconds.
// jsonl  one object per step: {"step": N, "tokens": T, "time": t, "train/loss": ..., ...} with every
//        metric logged at that step (non-finite values as null; "tokens" only when known; the keys
//        step/tokens/time win over metrics of the same name).
// wandb  see `exportWandb`.
// An eval run has items, not metric points: csv and jsonl then hold its items (`exportEvalItems`).
import Foundation
import GRDB

public enum MetricsFormat: String, CaseIterable, Sendable {
    case csv, jsonl
}

extension RunStore {
    /// The run's metrics in `format`, as one string.
    public func export(run: Run, format: MetricsFormat) throws -> String {
        var text = ""
        try export(run: run, format: format) { text += $0 }
        return text
    }

    /// Writes the export to `url` (whole or not at all: a temporary file renamed into place).
    public func export(run: Run, format: MetricsFormat, to url: URL) throws {
        try writeFile(url) { write in try export(run: run, format: format, write: write) }
    }

    /// Streams the export in pieces to `write`, reading the metrics with a cursor so a long run is
    /// never held in memory whole.
    public func export(run: Run, format: MetricsFormat, write: (String) throws -> Void) throws {
        if run.kind == .eval { return try exportEvalItems(run: run, format: format, write: write) }
        switch format {
        case .csv:
            try write("step,tokens,name,value,time\n")
            try forEachPoint(of: run) { point in
                try write("\(point.step),\(point.tokens.map(String.init) ?? ""),\(Self.csvField(point.name)),\(Self.csvNumber(point.value)),\(point.time)\n")
            }
        case .jsonl:
            try forEachStep(of: run) { step, tokens, time, points in
                var pairs: [(String, String)] = [("step", "\(step)")]
                if let tokens { pairs.append(("tokens", "\(tokens)")) }
                pairs.append(("time", JSONText.number(time)))
                let reserved: Set<String> = ["step", "tokens", "time"]
                for point in points where !reserved.contains(point.name) { pairs.append((point.name, JSONText.number(point.value))) }
                try write(JSONText.object(pairs) + "\n")
            }
        }
    }

    /// Writes `folder` in the layout of the `files/` folder of a Weights & Biases run, plus its
    /// history — the files `wandb` itself keeps as text:
    ///
    ///     wandb-history.jsonl   one object per step: {"_step": N, "_runtime": s, "_timestamp": t, "tokens": T, "train/loss": ...}
    ///     wandb-summary.json    last value of every metric (left out when not finite), the run's stored summary, eval scores as "task/metric",
    ///                           and "_step", "_runtime", "_timestamp" of the last step
    ///     config.yaml           W&B's config format: `wandb_version: 1`, then per key `desc: null` and `value:`
    ///                           (values in JSON flow style, which is YAML); key `_hayai` holds name, kind, model, parent
    ///     wandb-metadata.json   program, host, startedAt, heartbeatAt, state (running, finished, failed, crashed)
    ///
    /// It is not a binary `run-ID.wandb` transaction log, so `wandb sync` does not read it. To import:
    /// `run = wandb.init(project=P, name=NAME, config={k: v["value"] for k, v in yaml.safe_load(open("config.yaml")).items()
    /// if k != "wandb_version"})`; for each line of wandb-history.jsonl, `run.log({k: v for k, v in row.items()
    /// if not k.startswith("_")}, step=row["_step"])`; then `run.summary.update(json.load(open("wandb-summary.json")))`.
    /// Non-finite values are written as null.
    public func exportWandb(run: Run, to folder: URL) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw RunStoreError.cannotWrite(path: folder.path, reason: error.localizedDescription)
        }
        let start = run.startedAt.timeIntervalSince1970
        var lastStep: Int?, lastTime: Double?
        var summary: [String: Double] = [:]
        try writeFile(folder.appendingPathComponent("wandb-history.jsonl")) { write in
            try forEachStep(of: run) { step, tokens, time, points in
                var pairs: [(String, String)] = [("_step", "\(step)"), ("_runtime", JSONText.number(max(0, time - start))),
                                                 ("_timestamp", JSONText.number(time))]
                if let tokens { pairs.append(("tokens", "\(tokens)")) }
                for point in points where !point.name.hasPrefix("_") {
                    pairs.append((point.name, JSONText.number(point.value)))
                    summary[point.name] = point.value
                }
                lastStep = step; lastTime = time
                try write(JSONText.object(pairs) + "\n")
            }
        }

        summary.merge(run.summaryValues) { _, stored in stored }
        for result in try evalResults(run: run) { summary["\(result.task)/\(result.metric)"] = result.value }
        var summaryPairs = summary.filter { $0.value.isFinite }.sorted { $0.key < $1.key }.map { ($0.key, JSONText.number($0.value)) }
        if let lastStep, let lastTime {
            summaryPairs += [("_step", "\(lastStep)"), ("_runtime", JSONText.number(max(0, lastTime - start))),
                             ("_timestamp", JSONText.number(lastTime))]
        }
        try writeFile(folder.appendingPathComponent("wandb-summary.json")) { try $0(JSONText.object(summaryPairs) + "\n") }

        var yaml = "wandb_version: 1\n"
        func entry(_ key: String, _ valueJSON: String) { yaml += "\n\(JSONText.string(key)):\n  desc: null\n  value: \(valueJSON)\n" }
        entry("_hayai", JSONText.object([("name", JSONText.string(run.name)), ("kind", JSONText.string(run.kind.rawValue)),
                                         ("model", run.model.map(JSONText.string) ?? "null"),
                                         ("parent", run.parent.map(JSONText.string) ?? "null")]))
        for (key, value) in run.configValues.sorted(by: { $0.key < $1.key }) { entry(key, value.jsonText) }
        try writeFile(folder.appendingPathComponent("config.yaml")) { try $0(yaml) }

        let state: String
        switch run.status {
        case .running: state = "running"
        case .completed: state = "finished"
        case .failed: state = "failed"
        case .interrupted: state = "crashed"
        }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let metadata = JSONText.object([
            ("program", JSONText.string("hayai")),
            ("host", run.host.map(JSONText.string) ?? "null"),
            ("startedAt", JSONText.string(iso.string(from: run.startedAt))),
            ("heartbeatAt", run.heartbeatAt.map { JSONText.string(iso.string(from: $0)) } ?? "null"),
            ("state", JSONText.string(state)),
        ])
        try writeFile(folder.appendingPathComponent("wandb-metadata.json")) { try $0(metadata + "\n") }
    }

    /// An eval run's items (it logs no metric points): csv `task,item_index,correct,prediction,target,metrics`
    /// (metrics as JSON text); jsonl one object per item with its doc, prompt and metrics as JSON values.
    public func exportEvalItems(run: Run, format: MetricsFormat, write: (String) throws -> Void) throws {
        let id = try requireID(run)
        if format == .csv { try write("task,item_index,correct,prediction,target,metrics\n") }
        try pool.read { db in
            let cursor = try EvalItem.fetchCursor(db, sql: """
                SELECT task, item_index, doc, prompt, prediction, target, scores, correct, metrics
                FROM eval_item WHERE run_id = ? ORDER BY task, item_index
                """, arguments: [id])
            while let item = try cursor.next() {
                switch format {
                case .csv:
                    let fields = [Self.csvField(item.task), "\(item.itemIndex)", item.correct.map(String.init) ?? "",
                                  Self.csvField(item.prediction ?? ""), Self.csvField(item.target ?? ""), Self.csvField(item.metrics ?? "")]
                    try write(fields.joined(separator: ",") + "\n")
                case .jsonl:
                    func json(_ text: String?) -> String { text.flatMap { try? JSONValue.parse($0).jsonText } ?? "null" }
                    let pairs: [(String, String)] = [
                        ("task", JSONText.string(item.task)), ("item_index", "\(item.itemIndex)"),
                        ("correct", item.correct.map(String.init) ?? "null"), ("prediction", item.prediction.map(JSONText.string) ?? "null"),
                        ("target", item.target.map(JSONText.string) ?? "null"), ("metrics", json(item.metrics)),
                        ("doc", json(item.doc)), ("prompt", item.prompt.map(JSONText.string) ?? "null")]
                    try write(JSONText.object(pairs) + "\n")
                }
            }
        }
    }

    // MARK: - Helpers

    func forEachPoint(of run: Run, _ body: (MetricPoint) throws -> Void) throws {
        let id = try requireID(run)
        try pool.read { db in
            let cursor = try MetricPoint.fetchCursor(db, sql: """
                SELECT step, tokens, name, value, time FROM metric WHERE run_id = ? ORDER BY step, name
                """, arguments: [id])
            while let point = try cursor.next() { try body(point) }
        }
    }

    /// Points grouped by step: (step, tokens if any point knows them, latest time, points by name).
    func forEachStep(of run: Run, _ body: (Int, Int?, Double, [MetricPoint]) throws -> Void) throws {
        var group: [MetricPoint] = []
        func flush() throws {
            guard let first = group.first else { return }
            try body(first.step, group.compactMap(\.tokens).max(), group.map(\.time).max() ?? first.time, group)
            group.removeAll(keepingCapacity: true)
        }
        try forEachPoint(of: run) { point in
            if let current = group.first, current.step != point.step { try flush() }
            group.append(point)
        }
        try flush()
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func csvNumber(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return "\(value)"
    }

    /// Writes a file through a temporary name in the same folder, renamed into place when complete.
    func writeFile(_ url: URL, _ body: ((String) throws -> Void) throws -> Void) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: temporary) else {
            throw RunStoreError.cannotWrite(path: url.path, reason: "cannot create \(temporary.lastPathComponent) in \(url.deletingLastPathComponent().path)")
        }
        var buffer = ""
        do {
            try body { piece in
                buffer += piece
                if buffer.utf8.count >= 1 << 16 { try handle.write(contentsOf: Data(buffer.utf8)); buffer = "" }
            }
            try handle.write(contentsOf: Data(buffer.utf8))
            try handle.close()
            guard rename(temporary.path, url.path) == 0 else {
                throw RunStoreError.cannotWrite(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? RunStoreError { throw error }
            throw RunStoreError.cannotWrite(path: url.path, reason: error.localizedDescription)
        }
    }
}
