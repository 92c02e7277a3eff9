// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_: the L2 norm over every
// gradient entry, and, when it exceeds maxNorm, every gradient scaled by maxNorm / (norm + 1e-6).
import Kernels

public enum GradientClipping {
    /// √(Σ g²) over the whole gradient buffer (accumulated in Double).
    public static func globalNorm(_ parameters: ParameterStore) -> Float {
        Float(OptimizerOps.sumOfSquares(parameters.gradients, count: parameters.count).squareRoot())
    }

    /// Scales the gradients so their global norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ parameters: ParameterStore, maxNorm: Float) -> Float {
        let norm = globalNorm(parameters)
        let coefficient = maxNorm / (norm + 1e-6)
        if coefficient < 1 { OptimizerOps.scale(parameters.gradients, count: parameters.count, by: coefficient) }
        return norm
    }
}
