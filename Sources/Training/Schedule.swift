// The learning-rate schedule of nanoGPT and llm.c: linear warmup to the peak, then a cosine decay to a
// floor, then the floor. Steps count from 0.
import Foundation

public struct LearningRateSchedule: Sendable, Equatable {
    public var maxLR: Double
    public var minLR: Double
    public var warmupSteps: Int
    /// The step at which the cosine reaches minLR (the planned length of the run).
    public var totalSteps: Int
    /// Set when the length was re-planned mid-decay (--minutes measures the step time and plans again):
    /// from `step` on, the cosine goes on from `progress` to 1 at the new total, so the rate never jumps.
    public var anchor: DecayAnchor?

    public struct DecayAnchor: Codable, Sendable, Equatable {
        public var step: Int
        /// How far the cosine had gone at `step`, in [0, 1].
        public var progress: Double
        public init(step: Int, progress: Double) { self.step = step; self.progress = progress }
    }

    public init(maxLR: Double, minLR: Double = 0, warmupSteps: Int = 0, totalSteps: Int, anchor: DecayAnchor? = nil) {
        self.maxLR = maxLR; self.minLR = minLR; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.anchor = anchor
    }

    /// A constant rate.
    public static func constant(_ lr: Double) -> LearningRateSchedule {
        LearningRateSchedule(maxLR: lr, minLR: lr, warmupSteps: 0, totalSteps: 0)
    }

    /// Warmup: maxLR·(step + 1)/warmupSteps, so step 0 already moves and step warmupSteps − 1 is the peak.
    /// Decay: minLR + ½(1 + cos(π·r))·(maxLR − minLR), r = (step − warmup)/(total − warmup) ∈ [0, 1]
    /// (after a re-plan at an anchor: r = progress + (1 − progress)·(step − anchor)/(total − anchor)).
    public func callAsFunction(_ step: Int) -> Double {
        if step < warmupSteps { return maxLR * Double(step + 1) / Double(warmupSteps) }
        if step >= totalSteps { return minLR }
        let ratio = min(1, max(0, progress(step)))
        return minLR + 0.5 * (1 + cos(Double.pi * ratio)) * (maxLR - minLR)
    }

    func progress(_ step: Int) -> Double {
        if let a = anchor, step >= a.step {
            return a.progress + (1 - a.progress) * Double(step - a.step) / Double(max(totalSteps - a.step, 1))
        }
        return Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1))
    }

    /// Changes the run's length to `newTotal` when the next step is `step`, without a jump in the rate:
    /// during warmup only the end moves; in the decay the cosine continues from where it is.
    public mutating func replan(totalSteps newTotal: Int, at step: Int) {
        guard newTotal != totalSteps else { return }
        if step > warmupSteps && step < totalSteps {
            anchor = DecayAnchor(step: step, progress: min(1, max(0, progress(step))))
        }
        totalSteps = newTotal
    }
}

extension LearningRateSchedule {
    /// The steps a time budget allows at the pace so far (`--minutes`, SFT and pretraining): never more
    /// than `planned`, never fewer than one more step.
    public static func replannedSteps(planned: Int, step: Int, elapsed: Double, budget: Double) -> Int {
        guard step > 0, elapsed > 0 else { return planned }
        let perStep = elapsed / Double(step)
        let more = max(1, Int(((budget - elapsed) / perStep).rounded(.down)))
        return min(planned, step + more)
    }
}
