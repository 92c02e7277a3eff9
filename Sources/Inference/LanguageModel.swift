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

    /// Each token's log-probability given the tokens before it (nil for the first, which has no
    /// context), with the `top` most likely tokens at its position: what an OpenAI `echo` +
    /// `logprobs` request returns. Every position's logits are needed, so the sequence is computed
    /// from the start; the cache then holds it (a generation that continues it reuses it).
    public func tokenLogProbs(_ tokens: [Int], top: Int) throws -> [TokenLogProb] {
        guard !tokens.isEmpty else { throw InferenceError.emptyInput }
        guard tokens.count <= contextLength else { throw InferenceError.contextOverflow(tokens: tokens.count, context: contextLength) }
        let vocab = model.config.vocabSize
        session.rewind(to: 0)
        let rows = try session.forward(tokens, logits: .all)
        var out = [TokenLogProb(id: tokens[0], logProb: nil, top: [])]
        for i in 1..<tokens.count {
            // Row i − 1 predicts token i.
            let logProbs = logSoftmax(rows[(i - 1) * vocab..<i * vocab])
            out.append(TokenLogProb(id: tokens[i], logProb: logProbs[tokens[i]], top: mostLikely(logProbs, top)))
        }
        return out
    }
}

/// One token of a scored sequence: its log-probability (nil without context) and the most likely
/// tokens at its position, best first (ties: lower id first).
public struct TokenLogProb: Sendable, Equatable {
    public var id: Int
    public var logProb: Float?
    public var top: [(id: Int, logProb: Float)]

    public static func == (a: TokenLogProb, b: TokenLogProb) -> Bool {
        a.id == b.id && a.logProb == b.logProb && a.top.map(\.id) == b.top.map(\.id) && a.top.map(\.logProb) == b.top.map(\.logProb)
    }
}

/// The `k` largest entries of `row` (by insertion into a sorted list of k: one pass over the vocabulary).
func mostLikely(_ row: [Float], _ k: Int) -> [(id: Int, logProb: Float)] {
    guard k > 0 else { return [] }
    var best: [(id: Int, logProb: Float)] = []
    best.reserveCapacity(k + 1)
    for (i, v) in row.enumerated() {
        if best.count == k, v <= best[k - 1].logProb { continue }
        var at = best.count
        while at > 0 && v > best[at - 1].logProb { at -= 1 }
        best.insert((i, v), at: at)
        if best.count > k { best.removeLast() }
    }
    return best
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
