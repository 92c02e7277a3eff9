// A stored comparison of two eval runs (a run of kind `compare`, this record as its config): per task
// the paired items' count and the unpaired ones, per metric both runs' values on the paired items,
// the paired-bootstrap interval of B − A and McNemar's p, and the items where they disagree. Written
// by the workbench's Comparison; read back by `hayai report`, which shows it as it was computed.
import Foundation

public struct ComparisonRecord: Codable, Equatable, Sendable {
    public struct MetricRow: Codable, Equatable, Sendable {
        public var metric: String
        public var a: Double
        public var b: Double
        public var difference: Double
        public var lower: Double?
        public var upper: Double?
        public var mcnemarP: Double?
        public init(metric: String, a: Double, b: Double, difference: Double, lower: Double? = nil, upper: Double? = nil,
                    mcnemarP: Double? = nil) {
            self.metric = metric; self.a = a; self.b = b; self.difference = difference
            self.lower = lower; self.upper = upper; self.mcnemarP = mcnemarP
        }
    }
    public struct Item: Codable, Equatable, Sendable {
        public var index: Int
        public var question: String
        public var a: String
        public var b: String
        public var gold: String
        public var aCorrect: Bool?
        public var bCorrect: Bool?
        /// The item's answer options (ItemText.choices of its document), for the report.
        public var choices: [String]
        public init(index: Int, question: String, a: String, b: String, gold: String, aCorrect: Bool?, bCorrect: Bool?,
                    choices: [String] = []) {
            self.index = index; self.question = question; self.a = a; self.b = b; self.gold = gold
            self.aCorrect = aCorrect; self.bCorrect = bCorrect; self.choices = choices
        }
    }
    public struct TaskRow: Codable, Equatable, Sendable {
        public var task: String
        public var promptVersionA: String?
        public var promptVersionB: String?
        /// Items both runs scored on the same document (the metrics are over these).
        public var items: Int
        public var unpairedA: Int
        public var unpairedB: Int
        public var metrics: [MetricRow]
        public var disagreements: [Item]
        public init(task: String, promptVersionA: String?, promptVersionB: String?, items: Int, unpairedA: Int, unpairedB: Int,
                    metrics: [MetricRow], disagreements: [Item]) {
            self.task = task; self.promptVersionA = promptVersionA; self.promptVersionB = promptVersionB; self.items = items
            self.unpairedA = unpairedA; self.unpairedB = unpairedB; self.metrics = metrics; self.disagreements = disagreements
        }
    }
    public var a: String
    public var b: String
    public var modelA: String?
    public var modelB: String?
    public var tasks: [TaskRow]

    public init(a: String, b: String, modelA: String?, modelB: String?, tasks: [TaskRow]) {
        self.a = a; self.b = b; self.modelA = modelA; self.modelB = modelB; self.tasks = tasks
    }
}

extension Run {
    /// The comparison a `compare` run stores, or nil for other runs (or a config that is not one).
    public var comparison: ComparisonRecord? {
        guard kind == .compare else { return nil }
        return try? JSONDecoder().decode(ComparisonRecord.self, from: Data(config.utf8))
    }
}
