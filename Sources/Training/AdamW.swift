// AdamW as torch.optim.AdamW computes it (single-tensor path, amsgrad off), element by element in
// Float32 with the scalar factors worked out in Double as Python does:
//   p ← p·(1 − lr·wd)                 (decoupled decay; only tensors with dim ≥ 2)
//   m ← m + (1 − β1)·(g − m)          (exp_avg.lerp_(g, 1 − β1))
//   v ← v·β2 + (1 − β2)·g²            (exp_avg_sq)
//   p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
// The state (m, v, step) saves to and loads from a safetensors file named like torch's state dict
// (`<tensor>.exp_avg`, `<tensor>.exp_avg_sq`), so a run can resume exactly.
import Inference
import Foundation
import Checkpoints
import Kernels

public final class AdamW {
    public let parameters: ParameterStore
    public var beta1: Double, beta2: Double, eps: Double, weightDecay: Double
    /// Steps taken so far (torch's `state["step"]`); the next step uses step + 1 in its bias corrections.
    public private(set) var step = 0
    /// exp_avg and exp_avg_sq, in the parameter buffer's layout.
    public let expAvg: UnsafeMutablePointer<Float>, expAvgSq: UnsafeMutablePointer<Float>

    public init(parameters: ParameterStore, beta1: Double = 0.9, beta2: Double = 0.95, eps: Double = 1e-8, weightDecay: Double = 0.1) {
        self.parameters = parameters
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        let n = max(parameters.count, 1)
        expAvg = .allocate(capacity: n); expAvg.initialize(repeating: 0, count: n)
        expAvgSq = .allocate(capacity: n); expAvgSq.initialize(repeating: 0, count: n)
    }

    deinit { expAvg.deallocate(); expAvgSq.deallocate() }

    /// One update of every parameter from the gradient buffer at learning rate `lr`.
    public func step(lr: Double) {
        step += 1
        let t = Double(step)
        let bc1 = 1 - pow(beta1, t), bc2Sqrt = (1 - pow(beta2, t)).squareRoot()
        let stepSize = Float(lr / bc1), denomScale = Float(bc2Sqrt), epsF = Float(eps)
        let lerpWeight = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2)
        let decayFactor = Float(1 - lr * weightDecay)
        let p = parameters.values, g = parameters.gradients, m = expAvg, v = expAvgSq
        for tensor in parameters.tensors {
            let o = tensor.offset
            OptimizerOps.adamW(parameters: p + o, gradients: g + o, expAvg: m + o, expAvgSq: v + o, count: tensor.count,
                               decayFactor: tensor.decays && weightDecay != 0 ? decayFactor : nil, lerpWeight: lerpWeight, beta2: b2,
                               oneMinusBeta2: oneMinusB2, denomScale: denomScale, eps: epsF, stepSize: stepSize)
        }
    }

    // MARK: - State on disk

    /// Writes m, v and the step count to a safetensors file (temporary name, then renamed).
    public func save(path: String) throws {
        var writer = SafetensorsWriter(path: path, metadata: [
            "format": "hayai-adamw", "step": String(step), "beta1": String(beta1), "beta2": String(beta2),
            "eps": String(eps), "weight_decay": String(weightDecay),
        ])
        for t in parameters.tensors {
            try writer.add(t.name + ".exp_avg", shape: t.shape, borrowing: UnsafeBufferPointer(start: expAvg + t.offset, count: t.count))
            try writer.add(t.name + ".exp_avg_sq", shape: t.shape, borrowing: UnsafeBufferPointer(start: expAvgSq + t.offset, count: t.count))
        }
        try writer.write()
    }

    /// Reads what `save` wrote (or a file with the same tensor names); the step comes from the
    /// metadata key `step` unless `step` is given.
    public func load(path: String, step: Int? = nil) throws {
        let file = try SafetensorsFile(path: path)
        guard let resolved = step ?? file.metadata["step"].flatMap({ Int($0) }), resolved >= 0 else {
            throw TrainingError.badState(path: path, what: "no step count in the metadata")
        }
        for t in parameters.tensors {
            for (suffix, buffer) in [(".exp_avg", expAvg), (".exp_avg_sq", expAvgSq)] {
                guard let info = file.tensorInfos[t.name + suffix] else {
                    throw TrainingError.badState(path: path, what: "missing tensor \(t.name + suffix)")
                }
                guard info.shape == t.shape else {
                    throw TrainingError.badState(path: path, what: "tensor \(t.name + suffix) has shape \(info.shape), the model needs \(t.shape)")
                }
                let values = try file.floats(info)
                values.withUnsafeBufferPointer { (buffer + t.offset).update(from: $0.baseAddress!, count: t.count) }
            }
        }
        self.step = resolved
    }
}
