// The pretraining loop of `hayai train pretrain`, llm.c-style: a fresh StableLM-shaped model (or one
// resumed from a checkpoint), shuffled windows of the training tokens, AdamW with warmup and cosine
// decay, validation loss and bits-per-byte at intervals, checkpoints at intervals and at the end.
// What the run reports (progress, metrics, checkpoints) goes out through PretrainEvents; printing and
// the run store are the caller's.
import Basics
import Foundation
import Checkpoints
import Kernels
import Tokenizers

/// Where a run stands after a step, for the progress line.
public struct PretrainProgress: Sendable {
    public var step: Int
    public var plannedSteps: Int
    public var loss: Float
    public var learningRate: Double
    public var gradientNorm: Float
    /// Smoothed over recent steps.
    public var tokensPerSecond: Double
    public var mfu: Double
    public var tokensSeen: Int
    public var elapsedSeconds: Double
    public var etaSeconds: Double
}

public struct PretrainEvaluation: Sendable {
    public var step: Int
    public var loss: Double
    public var bitsPerByte: Double
    public var targets: Int
}

/// What the loop tells its caller. `metrics` may throw (a run store that cannot write): the run saves a checkpoint and goes on.
public struct PretrainEvents {
    public var message: (String) -> Void = { _ in }
    public var stepped: (PretrainProgress) -> Void = { _ in }
    public var evaluated: (PretrainEvaluation) -> Void = { _ in }
    public var checkpointSaved: (_ path: String, _ step: Int) -> Void = { _, _ in }
    public var metrics: (_ step: Int, _ tokens: Int, _ values: [String: Double]) throws -> Void = { _, _, _ in }
    public init() {}
}

public struct PretrainOptions {
    /// Checkpoints go to out/step-N, the final one into out itself.
    public var out: String
    public var resume = false
    /// Replace the config's length (on resume too: a longer run continues the same schedule only if equal).
    public var steps: Int?
    public var minutes: Double?
    /// The matmuls' precision; nil keeps the config's (a checkpoint's on resume), f32 when that has none.
    public var precision: GEMMPrecision?
    /// Polled between steps; true stops the run after saving a checkpoint (Ctrl-C).
    public var shouldStop: () -> Bool = { false }
    /// Stop after this step as an interruption would (tests of resuming).
    public var stopAfterStep: Int?
    /// Recorded in trainer_state.json so a resumed run finds its run-store entry.
    public var runName: String?
    /// Measure the arithmetic peak for MFU when none is given (off: MFU is reported as NaN).
    public var measurePeak = true
    /// Called as each checkpoint file lands in the staging folder (a throw simulates a failed write).
    public var checkpointFault: ((_ checkpoint: String, _ file: String) throws -> Void)?
    /// Continued pretraining: start from this checkpoint's weights (its shape replaces the config's
    /// model fields) and write its tokenizer files into every checkpoint.
    public var initFrom: BaseCheckpoint?
    /// Record where each step's time goes, op by op (`--profile`): PretrainRun.profile, from the second step on.
    public var profile = false
    public init(out: String) { self.out = out }
}

public enum PretrainOutcome: Equatable, Sendable {
    case completed(step: Int)
    case interrupted(step: Int)
}

public final class PretrainRun {
    public let config: PretrainConfig
    public let data: PretrainData
    public let options: PretrainOptions
    public let parameters: ParameterStore
    public let model: TrainingModel
    public let trainer: Trainer
    public private(set) var state: PretrainState
    /// The checkpoint folder it resumed from.
    public private(set) var resumedFrom: String?
    /// The last checkpoint written whole (this run's, else the one it resumed from): named when a later one fails.
    public private(set) var lastGoodCheckpoint: String?
    /// True while metric writes fail (a full disk): the first failure saves a checkpoint at once.
    private var metricsFailing = false
    public let flopsPerToken: Double
    public private(set) var arithmeticPeak: Double = .nan
    /// The peak (FLOP/s) to measure MFU against; nil: ModelFLOPs.arithmeticPeak in the config's precision.
    public var arithmeticPeakOverride: Double?
    private let sampler: WindowSampler
    /// The per-op times of the steps after the first (which pays for page faults and BLAS's thread
    /// start), when options.profile is on.
    public let profile: StepProfile?
    private var clock = DispatchTime.now().uptimeNanoseconds

    /// Sets up the model (fresh, or from the latest checkpoint in options.out with `resume`) and
    /// checks the data fits the config. `configSource` names where the config came from in errors.
    public init(config given: PretrainConfig, data: PretrainData, options: PretrainOptions, configSource: String = "config") throws {
        var config = given
        var resumed: (folder: String, state: PretrainState)?
        if options.resume {
            let latest = try PretrainCheckpoints.latest(options.out)
            PretrainCheckpoints.removeLeftovers(options.out)
            try Self.checkCompatible(given, saved: latest.state.config, source: configSource, checkpoint: latest.folder)
            config = latest.state.config
            resumed = latest
        } else if PretrainCheckpoints.holdsCheckpoint(options.out) {
            throw PretrainError.checkpoint(path: options.out, what: "already holds a checkpoint; continue it with --resume or choose another --out")
        }
        if let steps = options.steps { config.steps = steps; config.minutes = nil }
        if let minutes = options.minutes { config.minutes = minutes }
        config.precision = options.precision ?? config.precision ?? .f32
        try config.validate(path: configSource)
        self.config = config; self.data = data; self.options = options

        let tokenizer = data.tokenizer
        let eos = tokenizer.eosTokenIDs.isEmpty ? [tokenizer.tokenID("<|endoftext|>")].compactMap { $0 } : tokenizer.eosTokenIDs
        if let base = options.initFrom {
            // The checkpoint's own config.json on resume: it is the base's shape, not the preset's.
            parameters = try resumed.map { try ParameterStore.load(folder: $0.folder) } ?? base.parameters()
            guard tokenizer.vocabularySize <= parameters.config.vocabSize else {
                throw PretrainError.data(path: data.tokenizerFolder, what: "the tokenizer has \(tokenizer.vocabularySize) tokens, more than "
                                         + "\(base.path)'s vocabulary of \(parameters.config.vocabSize); tokenize with the base's tokenizer")
            }
            guard config.contextLength <= parameters.config.maxPositions else {
                throw PretrainError.config(path: configSource, what: "context_length \(config.contextLength) is longer than \(base.path)'s "
                                           + "max_position_embeddings \(parameters.config.maxPositions)")
            }
        } else {
            let modelConfig = config.modelConfig(vocabSize: tokenizer.vocabularySize, bosTokenID: tokenizer.bosTokenID ?? eos.first, eosTokenIDs: eos)
            parameters = try ParameterStore(config: modelConfig)
        }
        let modelConfig = parameters.config
        model = try TrainingModel(parameters: parameters, batchSize: config.microBatchSize, seqLen: config.contextLength)
        profile = options.profile ? StepProfile() : nil
        model.profile = profile
        let optimizer = AdamW(parameters: parameters, beta1: config.beta1, beta2: config.beta2, weightDecay: config.weightDecay)
        trainer = Trainer(model: model, optimizer: optimizer,
                          schedule: LearningRateSchedule(maxLR: config.lr, minLR: config.minLR, warmupSteps: config.warmupSteps, totalSteps: config.steps),
                          maxGradientNorm: config.gradClip > 0 ? Float(config.gradClip) : nil)
        sampler = try WindowSampler(stream: data.train, batchSize: config.microBatchSize, seqLen: config.contextLength, seed: config.seed)
        flopsPerToken = ModelFLOPs.perToken(modelConfig, contextLength: config.contextLength)

        var storedPlan: Int?
        if let resumed {
            let state = resumed.state
            guard state.trainTokens == data.train.count else {
                throw PretrainError.checkpoint(path: (resumed.folder as NSString).appendingPathComponent(PretrainState.fileName),
                                               what: "the checkpoint was trained on \(state.trainTokens) tokens, this data has \(data.train.count); resume with the same data")
            }
            if options.initFrom == nil { try parameters.load(folder: resumed.folder) }
            let optimizerPath = (resumed.folder as NSString).appendingPathComponent(CheckpointWriter.optimizerFileName)
            guard FileManager.default.fileExists(atPath: optimizerPath) else {
                throw PretrainError.checkpoint(path: optimizerPath, what: "missing optimizer state; cannot resume exactly")
            }
            try optimizer.load(path: optimizerPath)
            guard optimizer.step == state.step else {
                throw PretrainError.checkpoint(path: optimizerPath, what: "optimizer state is at step \(optimizer.step), \(PretrainState.fileName) at \(state.step)")
            }
            self.state = state
            storedPlan = state.plannedSteps
            if options.steps != nil { self.state.plannedSteps = config.steps }
            self.state.finished = false
            if let name = options.runName { self.state.runName = name }
            resumedFrom = resumed.folder
            lastGoodCheckpoint = resumed.folder
        } else {
            if options.initFrom == nil { parameters.initialize(seed: config.seed, std: Float(config.initStd), scaledResidualInit: true) }
            // With --minutes the length is planned after a few measured steps; until then, far away.
            state = PretrainState(step: 0, tokensSeen: 0, microBatchesSeen: 0, plannedSteps: config.minutes == nil ? config.steps : 1_000_000, dataSeed: config.seed,
                                  trainTokens: data.train.count, validationTokens: data.validation.count, elapsedSeconds: 0,
                                  runName: options.runName, lastLoss: nil, finished: false, config: config)
        }
        // The stored curve, then any new length given with --resume --steps, continued without a jump.
        trainer.schedule.totalSteps = storedPlan ?? state.plannedSteps
        trainer.schedule.anchor = state.scheduleAnchor
        trainer.schedule.replan(totalSteps: state.plannedSteps, at: state.step)
        state.scheduleAnchor = trainer.schedule.anchor
    }

    /// Names the run-store entry in the checkpoints written from now on.
    public func recordRunName(_ name: String) { state.runName = name }

    /// A config given with --resume must describe the same model and optimiser as the checkpoint's;
    /// only the run's length and the intervals may change.
    static func checkCompatible(_ given: PretrainConfig, saved: PretrainConfig, source: String, checkpoint: String) throws {
        var a = given, b = saved
        for c in [\PretrainConfig.steps] { a[keyPath: c] = 0; b[keyPath: c] = 0 }
        a.minutes = nil; b.minutes = nil
        a.precision = nil; b.precision = nil   // a resumed run may change its matmuls' precision, as its step count
        for c in [\PretrainConfig.evalInterval, \.evalBatches, \.checkpointInterval, \.keepCheckpoints, \.logInterval] { a[keyPath: c] = 0; b[keyPath: c] = 0 }
        guard a != b else { return }
        let ja = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(a)) as! [String: Any]
        let jb = try! JSONSerialization.jsonObject(with: JSONEncoder().encode(b)) as! [String: Any]
        let key = ja.keys.sorted().first { "\(ja[$0] ?? "-")" != "\(jb[$0] ?? "-")" } ?? "?"
        throw PretrainError.config(path: source, what: "'\(key)' differs from the checkpoint in \(checkpoint) (\(ja[key] ?? "-") here, \(jb[key] ?? "-") there); resume with the checkpoint's config")
    }

    // MARK: - The loop

    /// Trains to the planned step (or a stop), every matmul in the config's precision.
    @discardableResult
    public func run(events: PretrainEvents = PretrainEvents()) throws -> PretrainOutcome {
        try BLAS.withPrecision(config.precision ?? .f32) { try trainingLoop(events: events) }
    }

    private func trainingLoop(events: PretrainEvents) throws -> PretrainOutcome {
        if let peak = arithmeticPeakOverride {
            arithmeticPeak = peak
        } else if options.measurePeak {
            arithmeticPeak = ModelFLOPs.arithmeticPeak(threads: BLAS.threads, precision: config.precision ?? .f32)
        }
        let tokensPerStep = config.tokensPerStep
        var smoothedStepSeconds: Double?
        let budget = config.minutes.map { $0 * 60 }
        var lastEvaluated = -1
        var profileWarmedUp = false
        clock = DispatchTime.now().uptimeNanoseconds

        while state.step < state.plannedSteps {
            if options.shouldStop() || options.stopAfterStep.map({ state.step >= $0 }) == true {
                try saveCheckpoint(final: false, events: events)
                return .interrupted(step: state.step)
            }
            let start = DispatchTime.now().uptimeNanoseconds
            profile?.beginStep()
            let microBatches = profile.measure(.data) { (0..<config.gradAccumulation).map { sampler.batch(state.microBatchesSeen + $0) } }
            let report = try trainer.step(microBatches)
            profile?.endStep()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            state.step = report.step
            state.microBatchesSeen += config.gradAccumulation
            state.tokensSeen += tokensPerStep
            state.elapsedSeconds += seconds
            state.lastLoss = report.loss
            // The first step of the process warms caches and BLAS's threads: the profile starts after it (unless it is the only one).
            if let profile, !profileWarmedUp {
                profileWarmedUp = true
                if state.step < state.plannedSteps { profile.reset() }
            }
            guard report.loss.isFinite else {
                throw PretrainError.checkpoint(path: options.out, what: "the loss became \(report.loss) at step \(state.step); lower lr (now \(config.lr)) — the last checkpoint is kept")
            }

            // Skip the first step's time when smoothing: it pays for page faults and BLAS's thread start.
            if state.step > 1 || resumedFrom != nil {
                smoothedStepSeconds = smoothedStepSeconds.map { 0.9 * $0 + 0.1 * seconds } ?? seconds
            }
            if let budget {
                if state.step >= 3 && state.plannedSteps > state.step {
                    // Plan the run's length from the step time so far, every step from the third (the pace
                    // changes when the machine gets busy); the schedule decays to it without a jump.
                    state.plannedSteps = LearningRateSchedule.replannedSteps(planned: .max, step: state.step,
                                                                            elapsed: state.elapsedSeconds, budget: budget)
                    trainer.schedule.replan(totalSteps: state.plannedSteps, at: state.step)
                    state.scheduleAnchor = trainer.schedule.anchor
                }
                if state.elapsedSeconds >= budget { state.plannedSteps = state.step; trainer.schedule.totalSteps = state.step }
            }
            let tokensPerSecond = Double(tokensPerStep) / seconds
            let mfu = flopsPerToken * tokensPerSecond / arithmeticPeak
            try reportMetrics(events, [
                "train/loss": Double(report.loss), "lr": report.learningRate, "grad_norm": Double(report.gradientNorm),
                "tokens_per_second": tokensPerSecond, "mfu": mfu,
            ])
            let perStep = smoothedStepSeconds ?? seconds
            var eta = Double(state.plannedSteps - state.step) * perStep
            if let budget { eta = min(eta, max(0, budget - state.elapsedSeconds)) }
            events.stepped(PretrainProgress(step: state.step, plannedSteps: state.plannedSteps, loss: report.loss,
                                            learningRate: report.learningRate, gradientNorm: report.gradientNorm,
                                            tokensPerSecond: Double(tokensPerStep) / perStep, mfu: flopsPerToken * Double(tokensPerStep) / perStep / arithmeticPeak,
                                            tokensSeen: state.tokensSeen, elapsedSeconds: state.elapsedSeconds, etaSeconds: eta))

            let last = state.step >= state.plannedSteps
            if last || (config.evalInterval > 0 && state.step % config.evalInterval == 0) {
                try evaluateAndLog(events: events)
                lastEvaluated = state.step
            }
            if !last && config.checkpointInterval > 0 && state.step % config.checkpointInterval == 0 {
                try saveCheckpoint(final: false, events: events)
            }
        }
        if lastEvaluated != state.step { try evaluateAndLog(events: events) }
        state.finished = true
        try saveCheckpoint(final: true, events: events)
        return .completed(step: state.step)
    }

    private func evaluateAndLog(events: PretrainEvents) throws {
        guard let result = try evaluate() else { return }
        try reportMetrics(events, ["val/loss": result.loss, "val/bpb": result.bitsPerByte])
        events.evaluated(result)
    }

    /// Hands the step's metrics to `events.metrics`. A write that fails (the run store's disk is full) does not end
    /// the run: the caller keeps the points to write later (RunRecorder), and the first failure saves a checkpoint
    /// at once, so no training is lost to it; a checkpoint that fails as well ends the run naming the last good one.
    private func reportMetrics(_ events: PretrainEvents, _ values: [String: Double]) throws {
        do {
            try events.metrics(state.step, state.tokensSeen, values)
            metricsFailing = false
        } catch {
            guard !metricsFailing else { return }
            metricsFailing = true
            events.message("\(error); the metrics are kept to write later, saving a checkpoint now")
            try saveCheckpoint(final: false, events: events)
        }
    }

    /// Mean loss and bits per byte over the first evalBatches × microBatchSize windows of the
    /// validation tokens (the same windows every time; a short last window is padded and not scored).
    public func evaluate() throws -> PretrainEvaluation? {
        let t = config.contextLength, b = config.microBatchSize, val = data.validation
        guard val.count >= 2, config.evalBatches > 0 else { return nil }
        let rows = min((val.count + t - 1) / t, config.evalBatches * b)
        var lossSum = 0.0, targets = 0, bytes = 0
        var row = 0
        while row < rows {
            var tokens = [Int](repeating: 0, count: b * t), labels = [Int](repeating: TrainingModel.ignoreIndex, count: b * t)
            for r in 0..<b where row + r < rows {
                let start = (row + r) * t, window = val.tokens(start..<min(start + t, val.count))
                for (i, id) in window.enumerated() { tokens[r * t + i] = id; labels[r * t + i] = id }
                for id in window.dropFirst() { bytes += data.tokenByteCounts[id] }
            }
            try model.forward(tokens: tokens, labels: labels)
            lossSum += model.lossSum
            targets += model.targetCount
            row += b
        }
        guard targets > 0 else { return nil }
        let bpb = bytes > 0 ? lossSum / log(2) / Double(bytes) : .nan
        return PretrainEvaluation(step: state.step, loss: lossSum / Double(targets), bitsPerByte: bpb, targets: targets)
    }

    // MARK: - Checkpoints

    private func saveCheckpoint(final: Bool, events: PretrainEvents) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: options.out, withIntermediateDirectories: true) } catch {
            throw CheckpointError.cannotWrite(path: options.out, reason: error.localizedDescription)
        }
        let folder = PretrainCheckpoints.stepFolder(options.out, step: state.step)
        var writer = try options.initFrom.map { try $0.writer(for: parameters, tokenizerConfig: $0.tokenizerConfig) }
            ?? CheckpointWriter(parameters: parameters, tokenizerFolder: data.tokenizerFolder)
        let tokenizer = data.tokenizer
        writer.padTokenID = tokenizer.tokenID("<|padding|>")
        writer.optimizer = trainer.optimizer
        writer.extraFiles[PretrainState.fileName] = state.encoded()
        if options.initFrom == nil, !fm.fileExists(atPath: (data.tokenizerFolder as NSString).appendingPathComponent("tokenizer_config.json")) {
            let name = { (id: Int?) in id.flatMap { tokenizer.tokenString($0) } }
            writer.extraFiles["tokenizer_config.json"] = PretrainCheckpoints.minimalTokenizerConfig(
                bos: name(parameters.config.bosTokenID), eos: name(parameters.config.eosTokenIDs.first),
                pad: name(writer.padTokenID), maxLength: config.contextLength)
        }
        if let fault = options.checkpointFault { writer.afterFileWritten = { try fault(folder, $0) } }
        do {
            try writer.write(to: folder)
            PretrainCheckpoints.prune(options.out, keep: config.keepCheckpoints, current: folder)
            if final { try PretrainCheckpoints.publish(folder, into: options.out) }
        } catch {
            // The staging folder is gone (StagedFolder); say which checkpoint a --resume would continue from.
            throw PretrainError.checkpoint(path: folder, what: "\(error); the last good checkpoint is \(lastGoodCheckpoint ?? "none (nothing saved yet)")")
        }
        lastGoodCheckpoint = final ? options.out : folder
        events.checkpointSaved(final ? options.out : folder, state.step)
    }
}

/// Training windows in a seeded order reshuffled each epoch (PretrainingBatches' order over a
/// TokenStream, with the epoch's order kept between batches).
final class WindowSampler {
    let stream: TokenStream
    let batchSize: Int, seqLen: Int, seed: UInt64
    let windowCount: Int
    var batchesPerEpoch: Int { windowCount / batchSize }
    private var cached: (epoch: Int, order: [Int])?

    init(stream: TokenStream, batchSize: Int, seqLen: Int, seed: UInt64) throws {
        self.stream = stream; self.batchSize = batchSize; self.seqLen = seqLen; self.seed = seed
        windowCount = stream.count / seqLen
        guard windowCount >= batchSize else {
            throw PretrainError.data(path: stream.source, what: "\(stream.count) training tokens make \(windowCount) windows of \(seqLen), fewer than one micro-batch of \(batchSize); give more text or lower context_length / micro_batch_size")
        }
    }

    func order(epoch: Int) -> [Int] {
        if let cached, cached.epoch == epoch { return cached.order }
        var rng = SeededRandom(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var order = Array(0..<windowCount)
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        }
        cached = (epoch, order)
        return order
    }

    func batch(_ index: Int) -> MicroBatch {
        let epoch = index / batchesPerEpoch, within = index % batchesPerEpoch
        let order = order(epoch: epoch)
        var tokens: [Int] = []
        tokens.reserveCapacity(batchSize * seqLen)
        for w in order[(within * batchSize)..<((within + 1) * batchSize)] {
            tokens.append(contentsOf: stream.tokens((w * seqLen)..<((w + 1) * seqLen)))
        }
        return MicroBatch(tokens: tokens)
    }
}
