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

/// One context and the continuations scored after it.
public struct ScoringRequest: Sendable, Equatable {
    public var context: [Int]
    public var continuations: [[Int]]
    public init(context: [Int], continuations: [[Int]]) { self.context = context; self.continuations = continuations }
}

public protocol LanguageModel: AnyObject {
    var name: String { get }
    var tokenizer: Tokenizer { get }
    var contextLength: Int { get }

    /// Scores every continuation after the same context; the context is computed once and its KV
    /// cache reused for each continuation. `context` must not be empty.
    func score(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore]

    /// Scores several requests (an eval batch); the same numbers as `score(context:continuations:)` on each.
    func score(batch: [ScoringRequest]) throws -> [[ContinuationScore]]

    /// How many eval items this model scores well in one `score(batch:)` (1: it gains nothing from batches).
    var preferredBatchItems: Int { get }

    /// Generates after `prompt` (see `Generator.generate`).
    func generate(prompt: [Int], options: GenerationOptions, onText: (String) -> Bool) throws -> GenerationResult
}

extension LanguageModel {
    /// One request after the other.
    public func score(batch: [ScoringRequest]) throws -> [[ContinuationScore]] {
        try batch.map { try score(context: $0.context, continuations: $0.continuations) }
    }

    public var preferredBatchItems: Int { 1 }
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

    /// A model run by a session made elsewhere (tests: one with a small prompt batch).
    init(model: Model, session: InferenceSession) throws {
        guard let tokenizer = model.tokenizer else {
            throw InferenceError.notAModel(path: model.path, reason: "the checkpoint has no tokenizer")
        }
        self.model = model
        self.tokenizer = tokenizer
        self.session = session
    }

    /// - adapter: a PEFT LoRA adapter folder to run beside the weights.
    public convenience init(path: String, adapter: String? = nil, runtime: RuntimeOptions = RuntimeOptions()) throws {
        try self.init(model: Model.load(path: path, adapter: adapter), runtime: runtime)
    }

    public func score(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore] {
        guard !context.isEmpty else { throw InferenceError.emptyInput }
        return try batchInvariant { try scoreOne(context: context, continuations: continuations) }
    }

    /// Runs `body` with the session batch-invariant: a score must not depend on how rows were grouped into forwards
    /// (alone, packed, after a cached prefix).
    private func batchInvariant<R>(_ body: () throws -> R) rethrows -> R {
        let was = session.batchInvariant
        session.batchInvariant = true
        defer { session.batchInvariant = was }
        return try body()
    }

    /// `score(context:continuations:)` once the session is batch-invariant.
    private func scoreOne(context: [Int], continuations: [[Int]]) throws -> [ContinuationScore] {
        let longest = continuations.map(\.count).max() ?? 0
        guard context.count + longest <= contextLength else {
            throw InferenceError.contextOverflow(tokens: context.count + longest, context: contextLength)
        }
        let vocab = model.config.vocabSize
        // Reuse whatever prefix of the context the cache already holds.
        let shared = min(commonPrefix(session.tokens, context), context.count - 1)
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

    /// Eight items in one packed forward: the tail chunk of each item's prompt and its choices' few rows fill
    /// whole batches instead of running as forwards of their own.
    public var preferredBatchItems: Int { 8 }

    /// The requests packed into as few forwards as fit the context: the prefix all contexts share is computed
    /// once (or reused from the cache), then each context's rest and each continuation run as segments of one
    /// packed forward (`InferenceSession.forwardPacked`): a context sees the shared prefix and itself, a
    /// continuation its context and itself. Only the rows that predict a scored token go through the output head.
    /// The cache then holds the shared prefix. Sliding-window models score one request after the other.
    public func score(batch: [ScoringRequest]) throws -> [[ContinuationScore]] {
        guard model.config.slidingWindow == nil, !batch.isEmpty else {
            return try batch.map { try score(context: $0.context, continuations: $0.continuations) }
        }
        return try batchInvariant { try scorePackedBatch(batch) }
    }

    /// `score(batch:)` once the session is batch-invariant.
    private func scorePackedBatch(_ batch: [ScoringRequest]) throws -> [[ContinuationScore]] {
        for r in batch {
            guard !r.context.isEmpty else { throw InferenceError.emptyInput }
            let longest = r.continuations.map(\.count).max() ?? 0
            guard r.context.count + longest <= contextLength else {
                throw InferenceError.contextOverflow(tokens: r.context.count + longest, context: contextLength)
            }
        }
        // Every context keeps at least its last token to compute (its row predicts the first continuation token).
        let first = batch[0].context
        let shared = batch.reduce(first.count - 1) { min($0, commonPrefix($1.context, first), $1.context.count - 1) }
        var scores = [[ContinuationScore]](repeating: [], count: batch.count)
        do {
            var group: [Int] = [], rows = 0
            for i in batch.indices {
                let need = batch[i].context.count - shared + batch[i].continuations.reduce(0) { $0 + max(0, $1.count - 1) }
                if shared + need > contextLength {
                    // Too long to pack after the shared prefix: scored on its own.
                    scores[i] = try score(context: batch[i].context, continuations: batch[i].continuations)
                    continue
                }
                if shared + rows + need > contextLength {
                    try scorePacked(group.map { batch[$0] }, shared: shared).enumerated().forEach { scores[group[$0.offset]] = $0.element }
                    group = []; rows = 0
                }
                group.append(i); rows += need
            }
            if !group.isEmpty {
                try scorePacked(group.map { batch[$0] }, shared: shared).enumerated().forEach { scores[group[$0.offset]] = $0.element }
            }
        } catch {
            // Packed rows are not one sequence: never leave them where the next call would take them for a prefix.
            session.rewind(to: min(shared, commonPrefix(session.tokens, first)))
            throw error
        }
        return scores
    }

    /// One packed forward of `requests`, whose contexts share their first `shared` tokens.
    private func scorePacked(_ requests: [ScoringRequest], shared: Int) throws -> [[ContinuationScore]] {
        let context = requests[0].context
        let cached = min(commonPrefix(session.tokens, context), shared)
        session.rewind(to: cached)
        if shared > cached { _ = try session.forward(Array(context[cached..<shared]), logits: .none) }
        let seesShared = shared > 0 ? [0..<shared] : []
        var tokens: [Int] = [], segments: [PackedSegment] = [], logitRows: [Int] = []
        // Per logit row: the (request, continuation, token) it scores.
        var targets: [[(request: Int, continuation: Int, token: Int)]] = []
        for (i, r) in requests.enumerated() {
            let own = r.context[shared...], contextSlots = (shared + tokens.count)..<(shared + tokens.count + own.count)
            segments.append(PackedSegment(slots: contextSlots, sees: seesShared, firstPosition: shared))
            tokens += own
            logitRows.append(tokens.count - 1)
            targets.append(r.continuations.indices.filter { !r.continuations[$0].isEmpty }.map { (i, $0, 0) })
            for (c, continuation) in r.continuations.enumerated() where continuation.count > 1 {
                // Row j of a continuation predicts its token j + 1; the last token predicts nothing scored.
                let rows = continuation.dropLast(), slots = (shared + tokens.count)..<(shared + tokens.count + rows.count)
                segments.append(PackedSegment(slots: slots, sees: seesShared + [contextSlots], firstPosition: r.context.count))
                for j in rows.indices { logitRows.append(tokens.count + j); targets.append([(i, c, j + 1)]) }
                tokens += rows
            }
        }
        var logProbs = requests.map { $0.continuations.map { [Float](repeating: 0, count: $0.count) } }
        var greedy = requests.map { $0.continuations.map { _ in true } }
        try session.forwardPacked(tokens, segments: segments, logitRows: logitRows) { row, logits in
            let rowLogProbs = logSoftmax(logits), best = argmax(rowLogProbs)
            for t in targets[row] {
                let token = requests[t.request].continuations[t.continuation][t.token]
                logProbs[t.request][t.continuation][t.token] = rowLogProbs[token]
                if best != token { greedy[t.request][t.continuation] = false }
            }
        }
        session.rewind(to: shared)
        return requests.indices.map { i in
            requests[i].continuations.indices.map { c in
                ContinuationScore(logLikelihood: logProbs[i][c].reduce(0.0) { $0 + Double($1) }, isGreedy: greedy[i][c],
                                  tokenLogProbs: logProbs[i][c])
            }
        }
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
func logSoftmax<Row: Collection<Float>>(_ row: Row) -> [Float] {
    let m = row.max() ?? 0
    var sum = 0.0
    for v in row { sum += exp(Double(v - m)) }
    let lse = Double(m) + log(sum)
    return row.map { Float(Double($0) - lse) }
}

/// The length of the prefix `a` and `b` share.
func commonPrefix(_ a: [Int], _ b: [Int]) -> Int {
    zip(a, b).prefix { $0 == $1 }.count
}

func argmax(_ row: [Float]) -> Int {
    var best = 0
    for i in row.indices where row[i] > row[best] { best = i }
    return best
}
