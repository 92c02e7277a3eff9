// The one narrow interface Evaluation and Chat use to talk to a model (README, Architecture: score tokens,
// generate tokens), so a checkpoint trained a minute ago and a GGUF file from elsewhere are used
// the same way.
import Foundation
import Tokenizers

/// How well a model predicts a continuation after a context.
public struct ContinuationScore: Sendable, Equatable {
    /// Sum of the continuation tokens' log-probabilities (natural log).
    public var logLikelihood: Double
    /// Whether greedy decoding from the context would produce exactly this continuation.
    public var isGreedy: Bool
    /// Each continuation token's log-probability.
    public var tokenLogProbs: [Float]
}

public protocol LanguageModel: AnyObject {
    var name: String { get }
    var tokenizer: Tokenizer { get }
    var contextLength: Int { get }

    /// Scores every continuation after the same context; the context is computed once and its KV
    /// cache reused for each continuation. `context` must not be empty.
    func score(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore]

    /// Generates after `prompt` (see `Generator.generate`).
    func generate(prompt: [Int], options: GenerationOptions, onText: (String) -> Bool) throws -> GenerationResult
}

/// A model on this machine, run by one inference session.
public final class LocalLanguageModel: LanguageModel {
    public let model: Model
    public let tokenizer: Tokenizer
    public let session: InferenceSession
    public var name: String { (model.path as NSString).lastPathComponent }
    public var contextLength: Int { session.contextLength }

    /// A session on `model` run as `runtime` says (threads for the pool and BLAS, context, KV type).
    public init(model: Model, runtime: RuntimeOptions = RuntimeOptions()) throws {
        guard let tokenizer = model.tokenizer else {
            throw InferenceError.notAModel(path: model.path, reason: "the checkpoint has no tokenizer")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.session = try InferenceSession(model: model, runtime: runtime)
    }

    /// - adapter: a PEFT LoRA adapter folder to run beside the weights.
    public convenience init(path: String, adapter: String? = nil, runtime: RuntimeOptions = RuntimeOptions()) throws {
        try self.init(model: Model.load(path: path, adapter: adapter), runtime: runtime)
    }

    public func score(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore] {
        guard !context.isEmpty else { throw InferenceError.emptyInput }
        let longest = continuations.map(\.count).max() ?? 0
        guard context.count + longest <= contextLength else {
            throw InferenceError.contextOverflow(tokens: context.count + longest, context: contextLength)
        }
        let vocab = model.config.vocabSize
        // Reuse whatever prefix of the context the cache already holds.
        let shared = min(zip(session.tokens, context).prefix { $0 == $1 }.count, context.count - 1)
        session.rewind(to: shared)
        let contextLogits = try session.forward(Array(context[shared...]), logits: .last)
        let firstLogProbs = logSoftmax(contextLogits[...])
        var scores: [ContinuationScore] = []
        for continuation in continuations {
            guard !continuation.isEmpty else {
                scores.append(ContinuationScore(logLikelihood: 0, isGreedy: true, tokenLogProbs: []))
                continue
            }
            session.rewind(to: context.count)
            // Row i of these logits predicts continuation[i + 1]; the last row is not needed.
            let rows = continuation.count > 1 ? try session.forward(Array(continuation.dropLast()), logits: .all) : []
            var total = 0.0, greedy = true, perToken: [Float] = []
            for (i, token) in continuation.enumerated() {
                let logProbs = i == 0 ? firstLogProbs : logSoftmax(rows[(i - 1) * vocab..<i * vocab])
                perToken.append(logProbs[token])
                total += Double(logProbs[token])
                if argmax(logProbs) != token { greedy = false }
            }
            scores.append(ContinuationScore(logLikelihood: total, isGreedy: greedy, tokenLogProbs: perToken))
        }
        session.rewind(to: context.count)
        return scores
    }

    public func generate(prompt: [Int], options: GenerationOptions, onText: (String) -> Bool) throws -> GenerationResult {
        try Generator(session: session, tokenizer: tokenizer).generate(promptTokens: prompt, options: options, onText: onText)
    }
}

/// log-softmax of one row, accumulated in Double so long vocabularies keep their precision.
func logSoftmax(_ row: ArraySlice<Float>) -> [Float] {
    let m = row.max() ?? 0
    var sum = 0.0
    for v in row { sum += exp(Double(v - m)) }
    let lse = Double(m) + log(sum)
    return row.map { Float(Double($0) - lse) }
}

func argmax(_ row: [Float]) -> Int {
    var best = 0
    for i in row.indices where row[i] > row[best] { best = i }
    return best
}
