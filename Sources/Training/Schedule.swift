// The learning-rate schedule of nanoGPT and llm.c: linear warmup to the peak, then a cosine decay to a
// floor, then the floor. Steps count from 0.
import Foundation

public struct LearningRateSchedule: Sendable, Equatable {
    public var maxLR: Double
    public var minLR: Double
    public var warmupSteps: Int
    /// The step at which the cosine reaches minLR (the planned length of the run).
    public var totalSteps: Int

    public init(maxLR: Double, minLR: Double = 0, warmupSteps: Int = 0, totalSteps: Int) {
        self.maxLR = maxLR; self.minLR = minLR; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    /// A constant rate.
    public static func constant(_ lr: Double) -> LearningRateSchedule {
        LearningRateSchedule(maxLR: lr, minLR: lr, warmupSteps: 0, totalSteps: 0)
    }

    /// Warmup: maxLR·(step + 1)/warmupSteps, so step 0 already moves and step warmupSteps − 1 is the peak.
    /// Decay: minLR + ½(1 + cos(π·r))·(maxLR − minLR), r = (step − warmup)/(total − warmup) ∈ [0, 1].
    public func callAsFunction(_ step: Int) -> Double {
        if step < warmupSteps { return maxLR * Double(step + 1) / Double(warmupSteps) }
        if step >= totalSteps { return minLR }
        let ratio = Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1))
        return minLR + 0.5 * (1 + cos(Double.pi * ratio)) * (maxLR - minLR)
    }
}
