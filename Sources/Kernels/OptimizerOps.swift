// The optimizer's passes over flat Float32 buffers (CKernels/optimizer.c): AdamW's update, the sum of
// squares behind gradient clipping's global norm, and the clipping's scale. Training/AdamW.swift and
// GradientClipping.swift say what they compute; the C rounds every element as their scalar Swift did.
import CKernels

public enum OptimizerOps {
    /// Σ x² in Double.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double { hayai_sum_squares(x, count) }

    /// x *= scale
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by scale: Float) { hayai_scale(x, count, scale) }

    /// One AdamW update of `count` parameters (AdamW.swift has the formula).
    public static func adamW(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, expAvg m: UnsafeMutablePointer<Float>,
                             expAvgSq v: UnsafeMutablePointer<Float>, count: Int, decayFactor: Float?, lerpWeight: Float, beta2: Float,
                             oneMinusBeta2: Float, denomScale: Float, eps: Float, stepSize: Float) {
        hayai_adamw(p, g, m, v, count, decayFactor == nil ? 0 : 1, decayFactor ?? 1, lerpWeight, beta2, oneMinusBeta2, denomScale, eps, stepSize)
    }
}
