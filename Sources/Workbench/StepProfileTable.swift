// A training step's profile (Kernels.StepProfile) as the lines `hayai train pretrain --profile` and
// `train sft --profile` print, llm.c-style: each op's milliseconds a step, its share of the step and,
// for the matrix products, the GFLOP/s they ran at.
import Foundation
import Kernels

public enum StepProfileTable {
    public static func lines(_ profile: StepProfile, tokensPerStep: Int) -> [String] {
        guard profile.steps > 0 else { return ["profile: no step recorded"] }
        let step = profile.stepMilliseconds
        var lines = [
            String(format: "profile: mean of %d step%@ (the first is left out as warm-up when there are more), %.1f ms a step, %.0f tokens/s",
                   profile.steps, profile.steps == 1 ? "" : "s", step, Double(tokensPerStep) / step * 1000),
            "  " + "op".padding(toLength: 40, withPad: " ", startingAt: 0) + "   ms/step   share   GFLOP/s",
        ]
        var total = 0.0, matmul = 0.0
        for e in profile.entries {
            total += e.millisecondsPerStep
            if e.op.isMatmul { matmul += e.millisecondsPerStep }
            let rate = e.gflops.map { String(format: "%9.1f", $0) } ?? ""
            lines.append("  " + e.op.name.padding(toLength: 40, withPad: " ", startingAt: 0)
                         + String(format: " %9.2f  %5.1f%%", e.millisecondsPerStep, 100 * e.share) + " " + rate)
        }
        lines.append("  " + "all matmuls".padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %9.2f  %5.1f%%", matmul, 100 * matmul / step))
        lines.append("  " + "sum of the ops".padding(toLength: 40, withPad: " ", startingAt: 0) + String(format: " %9.2f  %5.1f%%", total, 100 * total / step))
        return lines
    }
}
