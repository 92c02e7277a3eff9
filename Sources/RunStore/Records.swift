// The rows of the run store as Swift values: a run, one metric point, one eval score, one eval item.
// Column names are the tables' own snake_case names (see Schema.swift); JSON-valued columns
// (config, summary, doc, scores, metrics) stay JSON text, so the store never needs to know the
// shape of a training config or of a task's documents.
import Foundation
import GRDB

/// What produced a run.
public enum RunKind: String, Codable, CaseIterable, Sendable, DatabaseValueConvertible {
    case pretrain, sft, eval, compare
}

/// Where a run stands. `interrupted` means the process went away (killed, crashed, machine
/// restarted) without calling `finish`; everything it logged before that is still there.
public enum RunStatus: String, Codable, CaseIterable, Sendable, DatabaseValueConvertible {
    case running, completed, failed, interrupted
}

/// One row of `run`.
public struct Run: Codable, Equatable, Sendable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "run"

    public var id: Int64?
    /// Unique in the workspace; letters, digits, `.`, `_` and `-` (it names export folders too).
    public var name: String
    public var kind: RunKind
    /// A checkpoint path or a model name.
    public var model: String?
    /// The run's configuration as JSON text (an object; `{}` when there is none).
    public var config: String
    public var status: RunStatus
    /// The process that writes the run, on `host`; with `heartbeatAt` it tells a live run from a dead one.
    public var pid: Int32?
    public var host: String?
    public var startedAt: Date
    public var endedAt: Date?
    /// Refreshed by every write made for the run.
    public var heartbeatAt: Date?
    /// Final metrics as a JSON object of numbers, written by `finish`.
    public var summary: String?
    /// The name of the run this one starts from (an SFT run's base model run, an eval's trained run).
    public var parent: String?
    public var notes: String?

    enum CodingKeys: String, CodingKey {
        case id, name, kind, model, config, status, pid, host
        case startedAt = "started_at", endedAt = "ended_at", heartbeatAt = "heartbeat_at"
        case summary, parent, notes
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    /// `summary` decoded; non-numbers and a malformed summary are skipped.
    public var summaryValues: [String: Double] {
        guard let summary, case .object(let object)? = try? JSONValue.parse(summary) else { return [:] }
        return object.compactMapValues(\.doubleValue)
    }

    /// Seconds from start to end, or to the last heartbeat while running or when interrupted.
    public var duration: TimeInterval? {
        guard let end = endedAt ?? heartbeatAt else { return nil }
        return max(0, end.timeIntervalSince(startedAt))
    }
}

/// One value of one metric at one step (a row of `metric`).
public struct MetricPoint: Codable, Equatable, Sendable, FetchableRecord {
    public var step: Int
    /// Training tokens seen so far, when the writer knows it.
    public var tokens: Int?
    public var name: String
    /// NaN is stored as NULL (SQLite has no NaN) and read back as NaN.
    public var value: Double
    /// Unix time (seconds) when it was logged.
    public var time: Double

    public init(step: Int, tokens: Int?, name: String, value: Double, time: Double) {
        self.step = step; self.tokens = tokens; self.name = name; self.value = value; self.time = time
    }

    public init(row: Row) throws {
        step = row["step"]
        tokens = row["tokens"]
        name = row["name"]
        value = (row["value"] as Double?) ?? .nan
        time = row["time"]
    }
}

/// Summary statistics of one metric of a run, for `hayai runs show`.
public struct MetricStats: Codable, Equatable, Sendable {
    public var name: String
    public var count: Int
    public var lastStep: Int
    public var last: Double
    public var min: Double
    public var minStep: Int
    public var max: Double
}

/// One score of one task in an eval run (a row of `eval_result`), with what is needed to reproduce it.
public struct EvalResult: Codable, Equatable, Sendable, FetchableRecord {
    public var task: String
    public var taskVersion: String?
    public var promptVersion: String?
    public var numFewshot: Int
    public var fewshotSeed: Int?
    /// `acc`, `acc_norm`, `exact_match`, `perplexity`, ...
    public var metric: String
    public var value: Double
    /// Standard error of `value` (over items), when the scorer has one.
    public var stderr: Double?
    /// Number of items scored.
    public var n: Int

    enum CodingKeys: String, CodingKey {
        case task, taskVersion = "task_version", promptVersion = "prompt_version"
        case numFewshot = "num_fewshot", fewshotSeed = "fewshot_seed", metric, value, stderr, n
    }

    public init(task: String, taskVersion: String? = nil, promptVersion: String? = nil, numFewshot: Int = 0,
                fewshotSeed: Int? = nil, metric: String, value: Double, stderr: Double? = nil, n: Int) {
        self.task = task; self.taskVersion = taskVersion; self.promptVersion = promptVersion
        self.numFewshot = numFewshot; self.fewshotSeed = fewshotSeed
        self.metric = metric; self.value = value; self.stderr = stderr; self.n = n
    }

    public init(row: Row) throws {
        task = row["task"]; taskVersion = row["task_version"]; promptVersion = row["prompt_version"]
        numFewshot = row["num_fewshot"]; fewshotSeed = row["fewshot_seed"]
        metric = row["metric"]
        value = (row["value"] as Double?) ?? .nan
        stderr = row["stderr"]
        n = row["n"]
    }
}

/// What the model did on one item of a task (a row of `eval_item`). A resumed eval skips the
/// items already stored (`RunStore.completedItems`).
public struct EvalItem: Codable, Equatable, Sendable, FetchableRecord {
    public var task: String
    /// The item's index in the task's JSONL.
    public var itemIndex: Int
    /// The task document as JSON text.
    public var doc: String?
    /// The rendered prompt (with its few-shot examples).
    public var prompt: String?
    public var prediction: String?
    public var target: String?
    /// Scorer output as JSON text, e.g. `{"loglikelihoods": [-3.2, -1.1], "is_greedy": [false, true]}`.
    public var scores: String?
    /// 1 or 0 for scorers with a right answer; nil otherwise.
    public var correct: Int?
    /// Per-item metrics as a JSON object (`{"acc": 1, "acc_norm": 0}`).
    public var metrics: String?

    enum CodingKeys: String, CodingKey {
        case task, itemIndex = "item_index", doc, prompt, prediction, target, scores, correct, metrics
    }

    public init(task: String, itemIndex: Int, doc: String? = nil, prompt: String? = nil, prediction: String? = nil,
                target: String? = nil, scores: String? = nil, correct: Int? = nil, metrics: String? = nil) {
        self.task = task; self.itemIndex = itemIndex; self.doc = doc; self.prompt = prompt
        self.prediction = prediction; self.target = target; self.scores = scores
        self.correct = correct; self.metrics = metrics
    }
}
