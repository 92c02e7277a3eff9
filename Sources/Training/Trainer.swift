// One optimisation step over a batch given as micro-batches: forward and backward of each, the
// gradients summed with one shared denominator (the targets of the whole batch) so the result is
// the big batch's mean-loss gradient, then clipping, the scheduled learning rate and AdamW.
import Foundation

public struct MicroBatch: Sendable {
    public var tokens: [Int]
    /// Same shape as tokens; -100 marks positions that are not scored. nil: labels = tokens.
    public var labels: [Int]?
    /// Same shape as tokens: each token's position within its packed document (nil: one document per row).
    public var positions: [Int]?
    public init(tokens: [Int], labels: [Int]? = nil, positions: [Int]? = nil) {
        self.tokens = tokens; self.labels = labels; self.positions = positions
    }
}

public struct StepReport: Sendable {
    public var step: Int            // the optimizer's step count after this step
    public var loss: Float          // mean loss over every target of the batch
    public var gradientNorm: Float  // before clipping
    public var learningRate: Double
    public var targets: Int
    public var tokens: Int
}

public final class Trainer {
    public let model: TrainingModel
    public let optimizer: AdamW
    public var schedule: LearningRateSchedule
    /// Clip the global gradient norm to this (nil: no clipping).
    public var maxGradientNorm: Float?

    public init(model: TrainingModel, optimizer: AdamW, schedule: LearningRateSchedule, maxGradientNorm: Float? = 1.0) {
        precondition(optimizer.parameters === model.parameters, "the optimizer must update the model's parameters")
        self.model = model; self.optimizer = optimizer; self.schedule = schedule; self.maxGradientNorm = maxGradientNorm
    }

    /// Zeroes the gradients and accumulates those of every micro-batch; returns (mean loss, targets).
    @discardableResult
    public func accumulateGradients(_ microBatches: [MicroBatch]) throws -> (loss: Float, targets: Int) {
        let total = model.profile.measure(.data) {
            microBatches.reduce(0) { $0 + TrainingModel.targetCount(labels: $1.labels ?? $1.tokens, batch: model.batchSize, seqLen: model.seqLen) }
        }
        model.profile.measure(.zeroGradients) { model.parameters.zeroGradients() }
        var lossSum: Double = 0
        for mb in microBatches {
            try model.forward(tokens: mb.tokens, labels: mb.labels ?? mb.tokens, positions: mb.positions)
            lossSum += model.lossSum
            model.backward(lossScale: total > 0 ? 1 / Float(total) : 0)
        }
        return (total > 0 ? Float(lossSum / Double(total)) : 0, total)
    }

    /// A full step: gradients, clipping, learning rate for this step, AdamW. With the model's profile
    /// set, the step is recorded in it (`data` covers only copying the batch in; a caller that assembles
    /// batches records that itself with `StepProfile.measure(.data)` inside its own begin/end).
    @discardableResult
    public func step(_ microBatches: [MicroBatch]) throws -> StepReport {
        let profile = model.profile
        let recordsHere = profile.map { !$0.isRecording } ?? false
        if recordsHere { profile?.beginStep() }
        defer { if recordsHere { profile?.endStep() } }
        let (loss, targets) = try accumulateGradients(microBatches)
        let norm = profile.measure(.clipping) {
            maxGradientNorm.map { GradientClipping.clip(model.parameters, maxNorm: $0) } ?? GradientClipping.globalNorm(model.parameters)
        }
        let lr = schedule(optimizer.step)
        profile.measure(.adamW) { optimizer.step(lr: lr) }
        return StepReport(step: optimizer.step, loss: loss, gradientNorm: norm, learningRate: lr, targets: targets,
                          tokens: microBatches.count * model.batchSize * model.seqLen)
    }
}

extension TrainingModel {
    /// How many positions of a (batch × seqLen) label array are scored: labels[b, t+1] ≠ -100 for t < T − 1.
    public static func targetCount(labels: [Int], batch: Int, seqLen: Int) -> Int {
        var n = 0
        for b in 0..<batch { for t in 1..<max(seqLen, 1) where labels[b * seqLen + t] != ignoreIndex { n += 1 } }
        return n
    }
}
