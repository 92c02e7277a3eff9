// Evaluates a task on a LanguageModel: builds each item's requests, scores them (all choices of an
// item over one pass of the shared context), reports progress, hands per-item results to a sink,
// and aggregates the metrics with lm-eval's standard errors.
import Foundation
import Inference
import Kernels
import Tokenizers

public struct RunOptions: Sendable {
    /// Evaluate only the first N items.
    public var limit: Int?
    /// Score all choices of an item after one pass over the context (KV cache reuse). Off: each
    /// choice is scored alone with the context recomputed (for benchmarks).
    public var reuseContext = true
    /// Overrides the task's num_fewshot.
    public var numFewshot: Int?
    /// Overrides the task's few-shot seed.
    public var fewshotSeed: UInt64?
    /// Pass over malformed JSONL lines (counted) instead of failing.
    public var skipBadLines = false
    /// Overrides where the task's items come from.
    public var dataFile: String?
    /// Multiple-choice items scored together in one `LanguageModel.score(batch:)` (nil: the model's
    /// `preferredBatchItems`; 1: one item at a time). Only with context reuse on and a local model.
    public var batchItems: Int?

    public init(limit: Int? = nil, reuseContext: Bool = true, numFewshot: Int? = nil) {
        self.limit = limit
        self.reuseContext = reuseContext
        self.numFewshot = numFewshot
    }
}

public final class Runner {
    /// What is scored: a model on this machine, or one served elsewhere that tokenizes itself.
    public enum Scored {
        case local(LanguageModel)
        case served(ServedModel)
    }
    public let scored: Scored
    public var options: RunOptions

    public init(model: LanguageModel, options: RunOptions = RunOptions()) {
        self.scored = .local(model)
        self.options = options
    }

    public init(served: ServedModel, options: RunOptions = RunOptions()) {
        self.scored = .served(served)
        self.options = options
    }

    /// The local model; a served one has no tokenizer here, so what needs one says so.
    func localModel(_ task: EvalTask, needs what: String) throws -> LanguageModel {
        switch scored {
        case .local(let model): return model
        case .served(let served):
            throw EvaluationError.invalidTask(file: task.file, reason: "\(what) needs the model's own tokenizer, which \(served.name) (served elsewhere) does not share")
        }
    }

    /// Loads the task's data (and few-shot pool) as the options say. With a limit, only the items evaluated are
    /// read, and of the few-shot pool only the examples they draw (the same draws as from the whole pool).
    public func loadData(_ task: EvalTask) throws -> (items: Dataset, pool: FewshotPool, poolIsEvalSet: Bool) {
        let file = options.dataFile ?? task.dataFile
        let data = try Dataset.load(path: file, skipBadLines: options.skipBadLines, textSplit: task.textSplit, limit: options.limit)
        guard !data.items.isEmpty else { throw EvaluationError.emptyDataset(file: file) }
        let shots = options.numFewshot ?? task.numFewshot
        guard shots > 0 else { return (data, .empty, false) }
        // A named few-shot file that is not there (JGLUE's train sets are optional downloads): draw
        // from the evaluated set instead, never the item itself; TaskResult.fewshotFromEvalSet says so.
        var poolFile = file, poolIsEvalSet = true
        if let f = task.fewshotDataFile, f != file, FileManager.default.fileExists(atPath: f) {
            poolFile = f
            poolIsEvalSet = false
        }
        if options.limit == nil {
            let pool = poolIsEvalSet ? data.items : try Dataset.load(path: poolFile, skipBadLines: options.skipBadLines).items
            return (data, FewshotPool(pool), poolIsEvalSet)
        }
        let pool = try FewshotPool.reading(poolFile, skipBadLines: options.skipBadLines, textSplit: poolIsEvalSet ? task.textSplit : .file,
                                           for: 0..<data.items.count, task: taskWithOptions(task), numFewshot: shots, poolIsEvalSet: poolIsEvalSet)
        return (data, pool, poolIsEvalSet)
    }

    /// The task with the seed the options override.
    func taskWithOptions(_ task: EvalTask) -> EvalTask {
        var task = task
        if let seed = options.fewshotSeed { task.fewshotSeed = seed }
        return task
    }

    /// Runs `task`, recording each new item in `sink` and calling `progress` after each item.
    public func run(_ task: EvalTask, sink: ResultSink? = nil, progress: ((Progress) -> Void)? = nil) throws -> TaskResult {
        let (data, pool, poolIsEvalSet) = try loadData(task)
        let fewshotFromEvalSet = poolIsEvalSet
        let count = min(options.limit ?? data.items.count, data.items.count)
        let shots = options.numFewshot ?? task.numFewshot
        let task = taskWithOptions(task)

        let done = sink?.completedItems ?? [:]
        var todo = (0..<count).filter { done[$0] == nil }[...]
        let toScore = todo.count
        let clock = ContinuousClock()
        let start = clock.now
        var scored = 0, scoredTokens = 0
        var results = done.filter { $0.key < count }
        let batch = itemsPerBatch(task)
        while !todo.isEmpty {
            try Interrupt.check()   // Ctrl-C: stop between batches of items; the ones recorded so far stay
            let indices = Array(todo.prefix(batch))
            todo = todo.dropFirst(indices.count)
            let prefixes = try indices.map { try task.prefix(for: data.items[$0], item: $0, pool: pool, poolIsEvalSet: poolIsEvalSet, numFewshot: shots) }
            let items: [ItemResult]
            switch task.outputType {
            case .multipleChoice:
                items = try scoreMultipleChoice(task, items: zip(indices, prefixes).map { (data.items[$0], $0, $1) })
            case .generateUntil: items = [try generate(task, doc: data.items[indices[0]], index: indices[0], prefix: prefixes[0])]
            case .loglikelihoodRolling: items = [try scoreRolling(task, doc: data.items[indices[0]], index: indices[0])]
            }
            for item in items {
                try sink?.record(item)
                results[item.index] = item
                scored += 1
                scoredTokens += item.promptTokens
                if let progress {
                    let elapsed = seconds(clock.now - start)
                    let rate = elapsed > 0 ? Double(scored) / elapsed : 0
                    progress(Progress(completed: done.count + scored, total: count, elapsedSeconds: elapsed, itemsPerSecond: rate,
                                      etaSeconds: rate > 0 ? Double(toScore - scored) / rate : nil))
                }
            }
        }
        let ordered = (0..<count).compactMap { results[$0] }
        let elapsed = seconds(clock.now - start)
        return TaskResult(
            task: task.name, version: task.version, promptVersion: task.promptVersion, outputType: task.outputType,
            numFewshot: shots, fewshotSeed: task.fewshotSeed, itemCount: ordered.count, skippedLines: data.skippedLines.count,
            fewshotFromEvalSet: fewshotFromEvalSet, reuseContext: options.reuseContext, metrics: Runner.aggregate(task, ordered), seconds: elapsed,
            itemsPerSecond: elapsed > 0 ? Double(scored) / elapsed : 0, tokensPerSecond: elapsed > 0 ? Double(scoredTokens) / elapsed : 0)
    }

    // MARK: multiple choice

    /// How many items go through the model together: multiple choice on a local model with context reuse in
    /// batches (the options' or the model's choice); everything else one at a time.
    func itemsPerBatch(_ task: EvalTask) -> Int {
        guard task.outputType == .multipleChoice, options.reuseContext, case .local(let model) = scored else { return 1 }
        return max(1, options.batchItems ?? model.preferredBatchItems)
    }

    /// A multiple-choice item's choices, gold index, prompt and (context, continuation) pair per choice.
    struct MultipleChoiceItem {
        var doc: JSONValue, index: Int, choices: [String], gold: Int, prompt: String
        var pairs: [(context: String, continuation: String)]
    }

    func prepareMultipleChoice(_ task: EvalTask, doc: JSONValue, index: Int, prefix: String) throws -> MultipleChoiceItem {
        let choices = try task.choices(doc, item: index)
        guard !choices.isEmpty else { throw task.itemError(index, "doc_to_choice gave no choices") }
        let gold = try task.goldIndex(doc, item: index, choices: choices)
        // (context, continuation) per choice; with multiple_inputs the choices are contexts.
        if task.multipleInputs {
            let continuation = task.targetDelimiter + (try task.value(task.docToTarget!, doc, item: index, key: "doc_to_target", fieldRequired: true).text)
            return MultipleChoiceItem(doc: doc, index: index, choices: choices, gold: gold, prompt: prefix + choices[gold],
                                      pairs: choices.map { (prefix + $0, continuation) })
        }
        let prompt = prefix + (try task.text(doc, item: index))
        return MultipleChoiceItem(doc: doc, index: index, choices: choices, gold: gold, prompt: prompt,
                                  pairs: choices.map { (prompt, task.targetDelimiter + $0) })
    }

    /// Scores multiple-choice items: on a local model all their requests in one `score(batch:)`, each item's
    /// choices sharing a context as one request; on a served model item by item.
    func scoreMultipleChoice(_ task: EvalTask, items: [(doc: JSONValue, index: Int, prefix: String)]) throws -> [ItemResult] {
        let prepared = try items.map { try prepareMultipleChoice(task, doc: $0.doc, index: $0.index, prefix: $0.prefix) }
        let scores: [[TextScore]]
        switch scored {
        case .local(let model):
            let encoded = try prepared.map { try encodeLocally($0.pairs, model: model, task: task, index: $0.index) }
            scores = try score(encoded, model: model, itemsPerBatch: itemsPerBatch(task)).map { item in
                item.map { TextScore(logLikelihood: $0.score.logLikelihood, isGreedy: $0.score.isGreedy,
                                     contextTokens: $0.request.context.count, continuationTokens: $0.request.continuation.count) }
            }
        case .served(let served): scores = try prepared.map { try scoreServed($0.pairs, served: served) }
        }
        return zip(prepared, scores).map(finishMultipleChoice)
    }

    func finishMultipleChoice(_ p: MultipleChoiceItem, _ scores: [TextScore]) -> ItemResult {
        let lls = scores.map(\.logLikelihood)
        let predicted = Metrics.argmax(lls)
        let predictedNorm = Metrics.normalizedArgmax(lls, choices: p.choices)
        var item = ItemResult(index: p.index, doc: p.doc, prompt: p.prompt, prediction: p.choices[predicted], target: p.choices[p.gold])
        item.references = [p.choices[p.gold]]
        item.choices = zip(p.choices, scores).map { choice, score in
            ChoiceScore(text: choice, logLikelihood: score.logLikelihood, isGreedy: score.isGreedy,
                        contextTokens: score.contextTokens, continuationTokens: score.continuationTokens)
        }
        item.gold = p.gold
        item.predicted = predicted
        item.predictedNormalized = predictedNorm
        item.correct = predicted == p.gold
        item.metrics = ["acc": predicted == p.gold ? 1 : 0, "acc_norm": predictedNorm == p.gold ? 1 : 0]
        return item
    }

    /// (context, continuation) pairs encoded as lm-eval does (a context shared by several pairs encoded once when
    /// the encoding is separate) and fitted into the model's context.
    func encodeLocally(_ pairs: [(context: String, continuation: String)], model: LanguageModel, task: EvalTask, index: Int) throws -> [EncodedRequest] {
        // Runs of pairs with one context (every choice of an ordinary item) are encoded together.
        var encoded: [EncodedRequest] = [], at = 0
        while at < pairs.count {
            let run = pairs[at...].prefix { $0.context == pairs[at].context }
            encoded += RequestEncoding.encode(context: pairs[at].context, continuations: run.map(\.continuation), tokenizer: model.tokenizer,
                                              mode: task.tokenization)
            at += run.count
        }
        return try encoded.map { encoded in
            guard !encoded.continuation.isEmpty else { throw task.itemError(index, "a choice encodes to no tokens") }
            guard let fitted = RequestEncoding.truncate(encoded, contextLength: model.contextLength) else {
                throw task.itemError(index, "a continuation of \(encoded.continuation.count) tokens does not fit the context of \(model.contextLength)")
            }
            return fitted
        }
    }

    /// The same pairs sent to a served model as text: the context's trailing whitespace moves to the
    /// continuation (lm-eval's `_encode_pair`), pairs sharing a context go as one call.
    func scoreServed(_ pairs: [(context: String, continuation: String)], served: ServedModel) throws -> [TextScore] {
        var out = [TextScore?](repeating: nil, count: pairs.count)
        var groups: [String: [Int]] = [:], order: [String] = []
        var continuations: [String] = []
        for (i, pair) in pairs.enumerated() {
            let trailing = pair.context.reversed().prefix { $0.isWhitespace }.count
            let context = String(pair.context.dropLast(trailing))
            continuations.append(String(pair.context.suffix(trailing)) + pair.continuation)
            if groups[context] == nil { order.append(context) }
            groups[context, default: []].append(i)
        }
        for context in order {
            let members = groups[context]!
            for (i, s) in zip(members, try served.score(context: context, continuations: members.map { continuations[$0] })) { out[i] = s }
        }
        return out.map { $0! }
    }

    /// Scores each item's requests: with reuse on, all items in one `score(batch:)` with an item's requests that
    /// share a context as one request (one item alone: the same requests one by one); with reuse off, each request
    /// alone after a different one-token context.
    func score(_ items: [[EncodedRequest]], model: LanguageModel, itemsPerBatch: Int) throws -> [[(request: EncodedRequest, score: ContinuationScore)]] {
        guard options.reuseContext else {
            return try items.map { requests in
                try requests.map { r in
                    // A one-token different context first, so nothing of this context is left cached.
                    let vocab = model.tokenizer.vocabularySize
                    let other = (r.context[0] + 1) % max(vocab, 2)
                    _ = try model.score(context: [other], continuations: [])
                    return (r, try model.score(context: r.context, continuations: [r.continuation])[0])
                }
            }
        }
        var batch: [ScoringRequest] = []
        // Per item, per request: where its score is (batch entry, continuation).
        var places: [[(entry: Int, continuation: Int)]] = []
        for requests in items {
            var entryOf: [[Int]: Int] = [:]
            places.append(requests.map { r in
                let entry = entryOf[r.context] ?? batch.count
                if entryOf[r.context] == nil {
                    entryOf[r.context] = entry
                    batch.append(ScoringRequest(context: r.context, continuations: []))
                }
                batch[entry].continuations.append(r.continuation)
                return (entry, batch[entry].continuations.count - 1)
            })
        }
        // One item at a time (batchItems 1, or a model that gains nothing from batches): each context through
        // `score(context:continuations:)`, the path the packed one is tested against.
        let scores = itemsPerBatch == 1 ? try batch.map { try model.score(context: $0.context, continuations: $0.continuations) }
                                        : try model.score(batch: batch)
        return zip(items, places).map { requests, places in
            zip(requests, places).map { ($0, scores[$1.entry][$1.continuation]) }
        }
    }

    // MARK: generation

    func generate(_ task: EvalTask, doc: JSONValue, index: Int, prefix: String) throws -> ItemResult {
        let prompt = prefix + (try task.text(doc, item: index))
        let references = try task.targets(doc, item: index)
        let text: String
        switch scored {
        case .local(let model): text = try generateLocally(task, prompt: prompt, references: references, model: model)
        // The server's tokens are not countable here: lm-eval's API models' default of 256 new tokens.
        case .served(let served): text = try served.generate(prompt: prompt, maxTokens: task.maxGenTokens ?? 256, until: task.until)
        }
        return generationItem(task, doc: doc, index: index, prompt: prompt, references: references, output: text)
    }

    func generateLocally(_ task: EvalTask, prompt: String, references: [String], model: LanguageModel) throws -> String {
        let tokenizer = model.tokenizer
        let maxTokens = task.maxGenTokens ?? max(1, references.map { tokenizer.encode($0, addSpecialTokens: false).count }.max() ?? 1)
        var tokens = tokenizer.encode(prompt, addSpecialTokens: false)
        if tokens.isEmpty { tokens = [RequestEncoding.prefixToken(tokenizer)] }
        // Left-truncate so the prompt and the answer fit (lm-eval keeps the last max_length − max_gen_toks tokens).
        let room = max(1, model.contextLength - maxTokens)
        if tokens.count > room { tokens = Array(tokens.suffix(room)) }
        var options = GenerationOptions()
        options.maxTokens = min(maxTokens, model.contextLength - tokens.count)
        options.sampling = .greedy
        options.stopStrings = task.until
        let output = try model.generate(prompt: tokens, options: options, onText: { _ in true })
        if output.stopReason == .interrupted { throw Interrupted() }   // a cut-off answer is not a result
        return output.text
    }

    func generationItem(_ task: EvalTask, doc: JSONValue, index: Int, prompt: String, references: [String], output: String) -> ItemResult {
        var text = output
        for stop in task.until where !stop.isEmpty {
            if let r = text.range(of: stop) { text = String(text[..<r.lowerBound]) }
        }
        var item = ItemResult(index: index, doc: doc, prompt: prompt, prediction: text, target: references.first ?? "")
        item.references = references
        for metric in task.metrics {
            let value: Double
            switch metric.name {
            case "exact_match":
                value = references.contains { Metrics.exactMatch(text, $0, ignoreCase: metric.ignoreCase, ignorePunctuation: metric.ignorePunctuation, regexesToIgnore: metric.regexesToIgnore) } ? 1 : 0
            case "jsquad_exact_match":
                value = references.contains { Metrics.jsquadExactMatch(text, $0) } ? 1 : 0
            case "jsquad_char_f1":
                value = references.map { Metrics.jsquadCharF1(text, $0) }.max() ?? 0
            case "numeric_match":
                value = references.contains { Metrics.numericMatch(text, $0) } ? 1 : 0
            default: continue
            }
            item.metrics[metric.name] = value
        }
        if let main = task.metrics.first(where: { $0.name != "jsquad_char_f1" }), let v = item.metrics[main.name] { item.correct = v == 1 }
        return item
    }

    // MARK: perplexity

    func scoreRolling(_ task: EvalTask, doc: JSONValue, index: Int) throws -> ItemResult {
        let text = try task.value(task.docToTarget!, doc, item: index, key: "doc_to_target", fieldRequired: true).text
        let model = try localModel(task, needs: "rolling log-likelihood (perplexity)")
        let tokenizer = model.tokenizer
        let tokens = tokenizer.encode(text, addSpecialTokens: false)
        // Our scoring API takes context + continuation ≤ contextLength, so a window sees contextLength − 1 tokens.
        let windows = RequestEncoding.rollingWindows(tokens: tokens, prefixToken: RequestEncoding.prefixToken(tokenizer),
                                                     maxSequenceLength: model.contextLength - 1)
        var total = 0.0
        for w in windows { total += try model.score(context: w.context, continuations: [w.continuation])[0].logLikelihood }
        var item = ItemResult(index: index, doc: doc, prompt: "", prediction: "", target: text)
        item.metrics = ["loglikelihood": total, "words": Double(Metrics.wordCount(text)), "bytes": Double(text.utf8.count),
                        "tokens": Double(tokens.count)]
        return item
    }

    // MARK: aggregation

    /// The task's metrics over `items`, with lm-eval's standard errors (mean: sample sd / √n;
    /// mcc and macro F1: bootstrap of 100; perplexities: none).
    public static func aggregate(_ task: EvalTask, _ items: [ItemResult]) -> [MetricResult] {
        task.metrics.compactMap { aggregate(metric: $0.name, higherIsBetter: $0.higherIsBetter, items) }
    }

    /// One metric over `items` (nil for a name no scorer produces); comparisons call it on paired items.
    public static func aggregate(metric name: String, higherIsBetter: Bool, _ items: [ItemResult]) -> MetricResult? {
        switch name {
        case "acc", "acc_norm", "exact_match", "jsquad_exact_match", "jsquad_char_f1", "numeric_match":
            let xs = items.compactMap { $0.metrics[name] }
            return MetricResult(name: name, value: Metrics.mean(xs), stderr: Metrics.meanStderr(xs), higherIsBetter: higherIsBetter)
        case "balanced_acc":
            let acc = items.map { $0.metrics["acc"] ?? 0 }, gold = items.map { $0.gold ?? -1 }
            return MetricResult(name: name, value: Metrics.balancedAccuracy(correct: acc, gold: gold), stderr: nil, higherIsBetter: true)
        case "mcc", "macro_f1":
            let gold = items.map { $0.gold ?? -1 }, pred = items.map { $0.predicted ?? -1 }
            let f: ([Int], [Int]) -> Double = name == "mcc" ? Metrics.matthewsCorrelation : Metrics.macroF1
            let value = f(gold, pred)
            let stderr = Metrics.bootstrapStderr(count: items.count) { idx in f(idx.map { gold[$0] }, idx.map { pred[$0] }) }
            return MetricResult(name: name, value: value, stderr: stderr, higherIsBetter: true)
        case "word_perplexity", "byte_perplexity", "bits_per_byte":
            let lls = items.map { $0.metrics["loglikelihood"] ?? 0 }
            let words = items.map { Int($0.metrics["words"] ?? 0) }, bytes = items.map { Int($0.metrics["bytes"] ?? 0) }
            let value = name == "word_perplexity" ? Metrics.weightedPerplexity(logLikelihoods: lls, units: words)
                : name == "byte_perplexity" ? Metrics.weightedPerplexity(logLikelihoods: lls, units: bytes)
                : Metrics.bitsPerByte(logLikelihoods: lls, bytes: bytes)
            return MetricResult(name: name, value: value, stderr: nil, higherIsBetter: false)
        default: return nil
        }
    }
}

private func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
