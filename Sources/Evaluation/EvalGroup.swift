// A task group (evalsets/groups/NAME.yaml) in lm-evaluation-harness's group file shape:
//
//   group: jglue-base
//   task: [jcommonsenseqa-0.2, jnli-0.2, ...]
//   aggregate_metric_list:          # optional: without it the group only lists its tasks
//     - metric: acc
//       aggregation: mean
//       weight_by_size: true
//   metadata: {version: 1.0}
//
// The group score is lm-eval's: the mean of the subtasks' values weighted by their sizes
// (`aggregate_subtask_metrics`) and the pooled standard error (`pooled_sample_stderr`).
import Foundation

public struct EvalGroup: Sendable, Equatable {
    public struct AggregateMetric: Sendable, Equatable {
        public var metric: String
        public var weightBySize: Bool
        public init(metric: String, weightBySize: Bool = true) { self.metric = metric; self.weightBySize = weightBySize }
    }

    public var name: String
    public var file: String
    /// The member tasks as the file names them (task file names or `task:` names).
    public var tasks: [String]
    public var aggregate: [AggregateMetric]
    public var version: String?

    public init(name: String, file: String = "", tasks: [String], aggregate: [AggregateMetric] = [], version: String? = nil) {
        self.name = name; self.file = file; self.tasks = tasks; self.aggregate = aggregate; self.version = version
    }

    static let knownKeys: Set<String> = ["group", "group_alias", "task", "aggregate_metric_list", "metadata"]

    public static func load(path: String) throws -> EvalGroup {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.invalidTask(file: path, reason: "cannot read the group file")
        }
        return try parse(yaml: text, file: path)
    }

    public static func parse(yaml: String, file: String) throws -> EvalGroup {
        func fail(_ reason: String) -> EvaluationError { .invalidTask(file: file, reason: reason) }
        guard case .object(let config) = try YAMLReading.load(yaml, file: file) else { throw fail("expected a mapping with group: and task:") }
        if let unknown = config.keys.filter({ !knownKeys.contains($0) }).sorted().first { throw fail("unknown key '\(unknown)' in a group file") }
        guard case .string(let name)? = config["group"], !name.isEmpty else { throw fail("missing 'group' (the group's name)") }
        guard case .array(let list)? = config["task"], !list.isEmpty else { throw fail("'task' must list the group's tasks") }
        let tasks = try list.map { entry -> String in
            guard case .string(let t) = entry, !t.isEmpty else { throw fail("each entry of 'task' must be a task name") }
            return t
        }
        var aggregate: [AggregateMetric] = []
        if let raw = config["aggregate_metric_list"] {
            guard case .array(let entries) = raw else { throw fail("aggregate_metric_list must be a list") }
            for entry in entries {
                guard case .string(let metric)? = entry["metric"] else { throw fail("aggregate_metric_list entries need a 'metric'") }
                if let agg = entry["aggregation"], agg != .string("mean") {
                    throw fail("aggregation '\(agg.text)' is not supported for \(metric) (lm-eval groups aggregate with mean)")
                }
                if let filter = entry["filter_list"], filter != .string("none"), filter != .array([.string("none")]) {
                    throw fail("filter_list '\(filter.text)' is not supported (hayai's tasks have the filter 'none')")
                }
                var weight = true
                if let w = entry["weight_by_size"] {
                    guard case .bool(let b) = w else { throw fail("weight_by_size must be true or false") }
                    weight = b
                }
                aggregate.append(AggregateMetric(metric: metric, weightBySize: weight))
            }
        }
        return EvalGroup(name: name, file: file, tasks: tasks, aggregate: aggregate, version: config["metadata"]?["version"]?.text)
    }

    /// One subtask's value of a metric: its score, standard error and item count.
    public struct Member: Sendable {
        public var value: Double
        public var stderr: Double?
        public var size: Int
        public init(value: Double, stderr: Double?, size: Int) { self.value = value; self.stderr = stderr; self.size = size }
    }

    /// lm-eval's group score: Σ value·size / Σ size (sizes all 1 without weight_by_size), and the pooled
    /// standard error √(Σ (size−1)·stderr²·size / (Σ size − k) / Σ size) over the real sizes; nil stderr
    /// when a member has none (lm-eval writes "N/A").
    public static func aggregate(_ members: [Member], weightBySize: Bool) -> (value: Double, stderr: Double?) {
        let weights = members.map { weightBySize ? Double($0.size) : 1 }
        let value = zip(members, weights).reduce(0) { $0 + $1.0.value * $1.1 } / weights.reduce(0, +)
        let total = Double(members.reduce(0) { $0 + $1.size })
        let stderrs = members.compactMap(\.stderr)
        guard stderrs.count == members.count else { return (value, nil) }
        let pooled = zip(members, stderrs).reduce(0.0) { $0 + Double($1.0.size - 1) * $1.1 * $1.1 * Double($1.0.size) }
            / (total - Double(members.count))
        return (value, (pooled / total).squareRoot())
    }
}
