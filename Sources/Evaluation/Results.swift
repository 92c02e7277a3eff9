// What a run produces: one record per item (for storage, resume and comparisons) and the task's
// aggregate metrics with standard errors.
import Foundation

public struct ChoiceScore: Codable, Sendable, Equatable {
    public var text: String
    public var logLikelihood: Double
    public var isGreedy: Bool
    public var contextTokens: Int
    public var continuationTokens: Int
}

public struct ItemResult: Codable, Sendable {
    /// The item's position in the dataset (0-based).
    public var index: Int
    public var doc: JSONValue
    /// The full prompt (description, few-shot examples, the item's text).
    public var prompt: String
    /// The chosen choice or the generated text.
    public var prediction: String
    /// The gold choice or the reference answers (first one here; all in `references`).
    public var target: String
    public var references: [String] = []
    public var choices: [ChoiceScore] = []
    public var gold: Int?
    public var predicted: Int?
    public var predictedNormalized: Int?
    /// The task's main per-item outcome (acc, or exact match); nil for perplexity.
    public var correct: Bool?
    /// Per-item metric values (acc, acc_norm, exact_match, ...; loglikelihood, words, bytes for perplexity).
    public var metrics: [String: Double] = [:]

    public init(index: Int, doc: JSONValue, prompt: String, prediction: String, target: String) {
        self.index = index; self.doc = doc; self.prompt = prompt; self.prediction = prediction; self.target = target
    }

    /// The tokens the item's requests hold: for multiple choice the context once when every choice has one of the same
    /// length (an ordinary item), else each choice's, plus every continuation; for perplexity the document's tokens;
    /// 0 for generation.
    public var promptTokens: Int {
        if let tokens = metrics["tokens"] { return Int(tokens) }
        guard let first = choices.first else { return 0 }
        let continuations = choices.reduce(0) { $0 + $1.continuationTokens }
        let oneContext = choices.allSatisfy { $0.contextTokens == first.contextTokens }
        return continuations + (oneContext ? first.contextTokens : choices.reduce(0) { $0 + $1.contextTokens })
    }
}

public struct MetricResult: Codable, Sendable, Equatable {
    public var name: String
    public var value: Double
    public var stderr: Double?
    public var higherIsBetter: Bool
}

public struct TaskResult: Codable, Sendable {
    public var task: String
    public var version: String
    public var promptVersion: String?
    public var outputType: EvalTask.OutputType
    public var numFewshot: Int
    public var fewshotSeed: UInt64
    public var itemCount: Int
    public var skippedLines: Int
    /// Few-shot examples came from the evaluated set (its other items), not a separate file.
    public var fewshotFromEvalSet: Bool
    public var reuseContext: Bool
    public var metrics: [MetricResult]
    public var seconds: Double
    /// Items scored in this run per second (resumed items not counted).
    public var itemsPerSecond: Double
    /// Their prompt tokens (ItemResult.promptTokens) per second.
    public var tokensPerSecond: Double

    public func metric(_ name: String) -> MetricResult? { metrics.first { $0.name == name } }
}

/// Where per-item results go as they are produced. `completedItems` lets a run resume: items found
/// there are not scored again, and their stored results count in the aggregate.
public protocol ResultSink: AnyObject {
    var completedItems: [Int: ItemResult] { get }
    func record(_ item: ItemResult) throws
}

/// A sink that keeps results in memory (tests, and the CLI before it stores them).
public final class MemorySink: ResultSink {
    public private(set) var completedItems: [Int: ItemResult]
    public private(set) var recorded: [ItemResult] = []

    public init(completed: [ItemResult] = []) {
        completedItems = Dictionary(completed.map { ($0.index, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func record(_ item: ItemResult) throws {
        completedItems[item.index] = item
        recorded.append(item)
    }

    /// All results in item order.
    public var results: [ItemResult] { completedItems.keys.sorted().map { completedItems[$0]! } }
}

public struct Progress: Sendable {
    public var completed: Int
    public var total: Int
    public var elapsedSeconds: Double
    public var itemsPerSecond: Double
    /// Estimated seconds left; nil until an item has been scored.
    public var etaSeconds: Double?
}
