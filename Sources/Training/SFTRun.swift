// Supervised fine-tuning from a base checkpoint: packed, prompt-masked batches (SFTPacking), AdamW
// with warmup and cosine decay over a few epochs, a held-out validation loss, and an instruct
// checkpoint in Hugging Face layout whose tokenizer_config.json carries the chat template used.
import Basics
import Foundation
import Checkpoints

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
    /// Tokens per packed row (default: the base model's context).
    public var contextLength: Int?
    public var gradClip: Float = 1.0
    /// Fraction of examples held out for the validation loss.
    public var validationFraction = 0.05
    public var seed: UInt64 = 1337

    public init() {}
}

public struct SFTProgress: Sendable {
    public var step: Int, plannedSteps: Int, epoch: Int
    public var loss: Float, learningRate: Double, gradientNorm: Float
    public var tokensPerSecond: Double
}

public final class SFTRun {
    public let config: SFTConfig
    public let parameters: ParameterStore
    public let train: [MicroBatch]
    public let validation: [MicroBatch]
    public let plannedSteps: Int
    public let report: SFTPackingReport
    private let model: TrainingModel
    private let trainer: Trainer

    /// - sequences: tokenized examples (SFTPacking.tokenize), in a fixed order; a seeded shuffle
    ///   splits off the validation examples.
    public init(base: String, sequences: [SFTSequence], padToken: Int, config: SFTConfig) throws {
        guard !sequences.isEmpty else { throw TrainingError.badData("no SFT examples to train on") }
        self.config = config
        parameters = try ParameterStore.load(folder: base)
        let seqLen = min(config.contextLength ?? parameters.config.maxPositions, parameters.config.maxPositions)
        var rng = SeededRandom(seed: config.seed)
        var order = Array(sequences.indices)
        for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        let held = sequences.count >= 20 ? max(1, Int(Double(sequences.count) * config.validationFraction)) : 0
        let (valBatches, _) = SFTPacking.pack(order.prefix(held).map { sequences[$0] }, seqLen: seqLen,
                                              rowsPerBatch: config.microBatchSize, padToken: padToken)
        let (trainBatches, report) = SFTPacking.pack(order.dropFirst(held).map { sequences[$0] }, seqLen: seqLen,
                                                     rowsPerBatch: config.microBatchSize, padToken: padToken)
        guard !trainBatches.isEmpty else { throw TrainingError.badData("no SFT example has a response left to train on") }
        train = trainBatches
        validation = valBatches
        self.report = report
        let stepsPerEpoch = max(1, trainBatches.count / config.gradAccumulation)
        plannedSteps = config.steps ?? config.epochs * stepsPerEpoch
        model = try TrainingModel(parameters: parameters, batchSize: config.microBatchSize, seqLen: seqLen)
        let optimizer = AdamW(parameters: parameters, weightDecay: config.weightDecay)
        let schedule = LearningRateSchedule(maxLR: config.lr, minLR: config.minLR, warmupSteps: min(config.warmupSteps, plannedSteps / 2),
                                            totalSteps: plannedSteps)
        trainer = Trainer(model: model, optimizer: optimizer, schedule: schedule, maxGradientNorm: config.gradClip)
    }

    /// Trains `plannedSteps` steps, cycling through the batches in a new seeded order each epoch.
    /// `shouldStop` is asked between steps (Ctrl-C); returns the steps done.
    public func run(onStep: (SFTProgress) throws -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> Int {
        var rng = SeededRandom(seed: config.seed &+ 1)
        var order: [Int] = [], cursor = 0, epoch = 0
        let clock = ContinuousClock()
        var step = 0
        while step < plannedSteps && !shouldStop() {
            let start = clock.now
            var micro: [MicroBatch] = []
            for _ in 0..<config.gradAccumulation {
                if cursor == order.count {
                    order = Array(train.indices)
                    for i in stride(from: order.count - 1, to: 0, by: -1) { order.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
                    cursor = 0
                    epoch += 1
                }
                micro.append(train[order[cursor]])
                cursor += 1
            }
            let r = try trainer.step(micro)
            step = r.step
            let d = (clock.now - start).components
            let seconds = Double(d.seconds) + Double(d.attoseconds) * 1e-18
            try onStep(SFTProgress(step: step, plannedSteps: plannedSteps, epoch: epoch, loss: r.loss, learningRate: r.learningRate,
                                   gradientNorm: r.gradientNorm, tokensPerSecond: seconds > 0 ? Double(r.tokens) / seconds : 0))
        }
        return step
    }

    /// Mean loss over the held-out examples' response tokens (nil when none were held out).
    public func validationLoss() throws -> Double? {
        guard !validation.isEmpty else { return nil }
        var sum = 0.0, count = 0
        for batch in validation {
            try model.forward(tokens: batch.tokens, labels: batch.labels, positions: batch.positions)
            sum += model.lossSum
            count += model.targetCount
        }
        return count > 0 ? sum / Double(count) : nil
    }

    /// Writes the instruct checkpoint: weights, config, the base's tokenizer files, and a
    /// tokenizer_config.json whose `chat_template` is `chatTemplate`.
    public func save(to out: String, tokenizerFolder: String, chatTemplate: String, templateName: String) throws {
        var writer = CheckpointWriter(parameters: parameters, tokenizerFolder: tokenizerFolder)
        let configPath = (tokenizerFolder as NSString).appendingPathComponent("tokenizer_config.json")
        var tokenizerConfig: [String: Any] = [:]
        if let data = FileManager.default.contents(atPath: configPath),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { tokenizerConfig = object }
        tokenizerConfig["chat_template"] = chatTemplate
        tokenizerConfig["hayai_chat_format"] = templateName
        writer.extraFiles["tokenizer_config.json"] = try JSONSerialization.data(withJSONObject: tokenizerConfig,
                                                                                 options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try writer.write(to: out)
    }
}
