// Supervised fine-tuning from a base checkpoint: packed, prompt-masked batches (SFTPacking), AdamW
// with warmup and cosine decay over a few epochs, a held-out validation loss, and an instruct
// checkpoint in Hugging Face layout whose tokenizer_config.json carries the chat template used.
import Basics
import Foundation
import Checkpoints
import Inference
import Kernels
import Tokenizers

public struct SFTConfig: Codable, Equatable, Sendable {
    public var epochs = 3
    /// Optimizer steps; overrides `epochs` when set.
    public var steps: Int?
    public var lr = 1e-3
    public var minLR = 1e-4
    public var warmupSteps = 10
    public var weightDecay = 0.0
    public var microBatchSize = 8
    public var gradAccumulation = 1
    /// Tokens per packed row (default: `defaultContextLength`, or the base model's context when shorter).
    public var contextLength: Int?
    public var gradClip: Float = 1.0
    /// Fraction of examples held out for the validation loss.
    public var validationFraction = 0.05
    public var seed: UInt64 = 1337
    /// Wall-clock budget: no step starts once this many seconds have passed. The step count is planned
    /// again from the measured step time (after 3 steps, then every 50), and the learning-rate schedule
    /// decays to that count, so a run cut by the budget still ends at the bottom of the decay.
    public var timeLimitSeconds: Double?
    /// Train LoRA adapters beside the frozen base instead of every weight.
    public var lora: LoRASettings?
    /// The matmuls' arithmetic (BLAS.precision): f32, or bf16 inputs with f32 sums; weights, gradients and AdamW stay f32.
    public var precision: GEMMPrecision = .f32

    public init() {}

    /// Rows of 512 tokens unless asked otherwise. A base's own context is often 2-8K, and a step's activations
    /// and attention work grow with the row length (attention's with its square, though training keeps no
    /// probabilities); packing fills each row with several short examples, so rows longer than the examples buy nothing.
    public static let defaultContextLength = 512

    /// The packed row length a base of `maxPositions` positions trains at under this config.
    public func rowLength(maxPositions: Int) -> Int {
        min(contextLength ?? Self.defaultContextLength, maxPositions, ModelConfig.contextLimit)
    }
}

public struct SFTProgress: Sendable {
    public var step: Int, plannedSteps: Int, epoch: Int
    public var loss: Float, learningRate: Double, gradientNorm: Float
    public var tokensPerSecond: Double
}

public final class SFTRun {
    public let config: SFTConfig
    public let parameters: ParameterStore
    public let validation: [MicroBatch]
    /// Steps of the schedule: `config.steps`, else epochs × an epoch's steps (estimated from the first window's
    /// share of the bytes when the data is streamed over several windows).
    public let plannedSteps: Int
    /// Packing of the training examples (of the first window when streamed).
    public let report: SFTPackingReport
    /// True when the data is larger than one window and is read window by window each epoch.
    public let isStreamed: Bool
    /// Tokens per packed row.
    public let seqLen: Int
    /// Bad lines passed over (with skipBadLines) while reading the data for `init(source:)`: all of them when the
    /// data fits one window, else those of the first window (the rest are met as training reads on).
    public internal(set) var skippedLines: [JSONLines.BadLine] = []
    /// Where training batches come from.
    private var feed: SFTBatchFeed
    public let base: BaseCheckpoint
    /// What the run holds in memory (checked against what is free before anything big is allocated).
    public let memory: MemoryEstimate
    /// LoRA only: the frozen base the adapters train beside.
    private let baseModel: Model?
    private let model: TrainingModel
    private let trainer: Trainer
    /// LoRA with dropout: on while training, off for the validation loss.
    private let dropout: LoRADropout?

    /// Tokens of examples held at once when the data is streamed (about 40 MB of ids and masks); data under it is
    /// trained as if held whole.
    public static let windowTokens = 4 << 20

    /// - sequences: tokenized examples (SFTPacking.tokenize), in a fixed order; a seeded shuffle
    ///   splits off the validation examples.
    public convenience init(base: BaseCheckpoint, sequences: [SFTSequence], padToken: Int, config: SFTConfig) throws {
        guard !sequences.isEmpty else { throw TrainingError.badData("no SFT examples to train on") }
        try self.init(base: base, data: .whole(sequences), padToken: padToken, config: config)
    }

    /// Examples read from `source` as training needs them: memory is one window of `windowTokens` tokens, whatever
    /// the data's size, and the first step comes after reading one window. Data within one window trains exactly as
    /// `init(sequences:)` with the same examples.
    public convenience init(base: BaseCheckpoint, source: SFTSource, padToken: Int, config: SFTConfig,
                            windowTokens: Int = SFTRun.windowTokens) throws {
        let pass = try source.startPass()
        var window: [SFTSequence] = [], tokens = 0
        var carried: SFTSequence?
        while let s = try pass.next() {
            if tokens >= windowTokens { carried = s; break }
            window.append(s)
            tokens += s.tokens.count
        }
        guard !window.isEmpty else { throw TrainingError.badData("no SFT examples to train on") }
        guard let carried else {
            try self.init(base: base, data: .whole(window), padToken: padToken, config: config)
            skippedLines = pass.skipped
            return
        }
        let share = source.totalBytes.map { Double($0) / Double(max(1, pass.bytesRead)) } ?? 1
        try self.init(base: base, data: .streamed(source: source, pass: pass, firstWindow: window, carried: carried,
                                                  windowTokens: windowTokens, epochShare: share),
                      padToken: padToken, config: config)
        skippedLines = pass.skipped
    }

    enum Examples {
        case whole([SFTSequence])
        /// The first window read from `pass` (and the example after it); an epoch is about `epochShare` windows.
        case streamed(source: SFTSource, pass: SFTPass, firstWindow: [SFTSequence], carried: SFTSequence, windowTokens: Int, epochShare: Double)
    }

    init(base: BaseCheckpoint, data: Examples, padToken: Int, config: SFTConfig) throws {
        let processBefore = MemoryEstimate.residentNow
        self.config = config
        self.base = base
        var frozen: DecoderWeights?
        var dropout: LoRADropout?
        let modelConfig: ModelConfig
        if let lora = config.lora {
            // The base stays as loaded (mapped F32/F16/BF16, packed quantized): forward through its own
            // kernels, backward through dequantized tiles; only the adapters get gradients.
            let model = try Model.load(path: base.path, dequantize: false, interleave: false)
            let adapters = try ParameterStore(lora: lora, base: model.plan)
            adapters.initializeLoRA(seed: config.seed)
            parameters = adapters
            var attached = adapters.adapters
            if lora.dropout > 0 {
                let d = LoRADropout(p: Float(lora.dropout), seed: config.seed &+ 2)
                attached = d.attach(to: attached)
                dropout = d
            }
            frozen = model.weights.attaching(attached)
            baseModel = model
            modelConfig = model.config
        } else {
            parameters = try base.parameters()
            baseModel = nil
            modelConfig = parameters.config
        }
        let seqLen = config.rowLength(maxPositions: modelConfig.maxPositions)
        self.seqLen = seqLen
        let trained = parameters.count * 4
        memory = MemoryEstimate(weights: frozen.map { w in w.layers.reduce(w.embedding.byteCount + (modelConfig.tieWordEmbeddings ? 0 : w.output.byteCount)) {
                                    $0 + $1.linears.reduce(0) { $0 + $1.1.weight.byteCount } } } ?? trained,
                                adapters: frozen == nil ? 0 : trained, optimizer: 3 * trained,
                                activations: TrainingModel.activationBytes(config: modelConfig, batchSize: config.microBatchSize, seqLen: seqLen,
                                                                           loraRank: config.lora?.rank ?? 0, loraDropout: dropout != nil,
                                                                           logitChunkRows: Self.logitChunkRows),
                                process: processBefore)
        self.dropout = dropout
        try memory.check()
        let sequences: [SFTSequence]
        switch data {
        case .whole(let all): sequences = all
        case .streamed(_, _, let first, _, _, _): sequences = first
        }
        var rng = SeededRandom(seed: config.seed)
        var order = Array(sequences.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let held = sequences.count >= 20 ? max(1, Int(Double(sequences.count) * config.validationFraction)) : 0
        let (valBatches, _) = SFTPacking.pack(order.prefix(held).map { sequences[$0] }, seqLen: seqLen,
                                              rowsPerBatch: config.microBatchSize, padToken: padToken)
        let (trainBatches, report) = SFTPacking.pack(order.dropFirst(held).map { sequences[$0] }, seqLen: seqLen,
                                                     rowsPerBatch: config.microBatchSize, padToken: padToken)
        guard !trainBatches.isEmpty else { throw TrainingError.badData("no SFT example has a response left to train on") }
        validation = valBatches
        self.report = report
        let stepsPerEpoch: Int
        switch data {
        case .whole:
            feed = WholeBatchFeed(train: trainBatches, seed: config.seed &+ 1)
            isStreamed = false
            stepsPerEpoch = max(1, trainBatches.count / config.gradAccumulation)
        case .streamed(let source, let pass, _, let carried, let windowTokens, let share):
            feed = StreamedBatchFeed(source: source, windowTokens: windowTokens, seqLen: seqLen, rowsPerBatch: config.microBatchSize,
                                     padToken: padToken, seed: config.seed &+ 1, held: Set(order.prefix(held)), pass: pass, carried: nil,
                                     window: 0, epoch: 1, batches: [], cursor: 0).starting(with: sequences, carried: carried)
            isStreamed = true
            stepsPerEpoch = max(1, Int((Double(trainBatches.count) * share).rounded()) / config.gradAccumulation)
        }
        plannedSteps = config.steps ?? config.epochs * stepsPerEpoch
        model = try TrainingModel(parameters: parameters, weights: frozen, batchSize: config.microBatchSize, seqLen: seqLen,
                                  logitChunkRows: Self.logitChunkRows)
        let optimizer = AdamW(parameters: parameters, weightDecay: config.weightDecay)
        let schedule = LearningRateSchedule(maxLR: config.lr, minLR: config.minLR, warmupSteps: min(config.warmupSteps, plannedSteps / 2),
                                            totalSteps: plannedSteps)
        trainer = Trainer(model: model, optimizer: optimizer, schedule: schedule, maxGradientNorm: config.gradClip)
    }

    /// Tokens of one optimizer step (micro-batches × rows × row length).
    public var tokensPerStep: Int { model.batchSize * model.seqLen * config.gradAccumulation }

    /// Per-op timing of the steps after the first (`train sft --profile`); nil reads no clock.
    public var profile: StepProfile? {
        get { model.profile }
        set { model.profile = newValue }
    }

    /// Rows of vocabulary-wide logits held at once (their (B·T, vocab) whole is 0.2 GB for SmolLM2's
    /// 49152 tokens at 4 × 256). 256 is at least every quantized type's crossover to dequantize-and-gemm
    /// (QuantizedMatrix.preferredStrategy), so a quantized output matrix gives the unchunked logits.
    static let logitChunkRows = 256

    /// Trains `plannedSteps` steps, cycling through the batches in a new seeded order each epoch.
    /// `shouldStop` is asked between steps (Ctrl-C); returns the steps done.
    public func run(onStep: (SFTProgress) throws -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Int {
        try BLAS.withPrecision(config.precision) { try trainingLoop(onStep: onStep, shouldStop: shouldStop) }
    }

    private func trainingLoop(onStep: (SFTProgress) throws -> Void, shouldStop: () -> Bool) throws -> Int {
        var epoch = 0
        let clock = ContinuousClock()
        var step = 0
        let began = clock.now
        func overBudget() -> Bool {
            guard let limit = config.timeLimitSeconds else { return false }
            let d = (clock.now - began).components
            return Double(d.seconds) + Double(d.attoseconds) * 1e-18 >= limit
        }
        var planned = plannedSteps
        var profileWarmedUp = false
        while step < planned && !shouldStop() && !overBudget() {
            let start = clock.now
            var micro: [MicroBatch] = []
            profile?.beginStep()
            try profile.measure(.data) {
                for _ in 0..<config.gradAccumulation {
                    let next = try feed.next()
                    micro.append(next.batch)
                    epoch = next.epoch
                }
            }
            let r = try trainer.step(micro)
            profile?.endStep()
            step = r.step
            // The first step warms caches and BLAS's threads: the profile starts after it (unless it is the only one).
            if let profile, !profileWarmedUp {
                profileWarmedUp = true
                if step < planned { profile.reset() }
            }
            let d = (clock.now - start).components
            let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
            // From the third step on, every step re-plans from the pace so far, so a pace that changes (a busy
            // machine, longer rows later) still ends the cosine at the budget's end.
            if let limit = config.timeLimitSeconds, step >= 3 {
                let e = (clock.now - began).components
                let replanned = LearningRateSchedule.replannedSteps(planned: plannedSteps, step: step,
                                                    elapsed: Double(e.seconds) + Double(e.attoseconds) * 1e-18, budget: limit)
                if replanned != planned {
                    planned = replanned
                    trainer.schedule.replan(totalSteps: planned, at: step)
                }
            }
            try onStep(SFTProgress(step: step, plannedSteps: planned, epoch: epoch, loss: r.loss, learningRate: r.learningRate,
                                   gradientNorm: r.gradientNorm, tokensPerSecond: seconds > 0 ? Double(r.tokens) / seconds : 0))
        }
        return step
    }

    /// Mean loss over the held-out examples' response tokens (nil when none were held out).
    public func validationLoss() throws -> Double? {
        guard !validation.isEmpty else { return nil }
        dropout?.enabled = false
        defer { dropout?.enabled = true }
        var sum = 0.0, count = 0
        for batch in validation {
            try model.forward(tokens: batch.tokens, labels: batch.labels, positions: batch.positions)
            sum += model.lossSum
            count += model.targetCount
        }
        return count > 0 ? sum / Double(count) : nil
    }

    /// Writes the instruct checkpoint: weights, config, the base's tokenizer files (written from its
    /// GGUF vocabulary when it had none), and a tokenizer_config.json whose `chat_template` is `chatTemplate`.
    public func save(to out: String, chatTemplate: String, templateName: String) throws {
        var tokenizerConfig = base.tokenizerConfig
        tokenizerConfig["chat_template"] = chatTemplate
        tokenizerConfig["hayai_chat_format"] = templateName
        if let lora = config.lora {
            // A PEFT adapter folder, with the tokenizer files so chat finds the format it was trained in.
            var files = base.generatedTokenizerFiles
            if let folder = base.tokenizerFolder {
                for name in CheckpointWriter.tokenizerFiles where name != "tokenizer_config.json" {
                    if let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent(name)) { files[name] = data }
                }
            }
            files["tokenizer_config.json"] = try JSONSerialization.data(withJSONObject: tokenizerConfig,
                                                                        options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            let basePath = URL(fileURLWithPath: base.path).standardizedFileURL.path
            return try AdapterFolder.write(parameters.adapters, settings: lora, plan: parameters.plan, base: basePath, to: out, extraFiles: files)
        }
        try base.writer(for: parameters, tokenizerConfig: tokenizerConfig).write(to: out)
    }
}
