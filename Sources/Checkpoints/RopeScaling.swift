// RoPE frequency scaling as transformers applies it for llama, mistral and gpt_neox
// (modeling_rope_utils.py): the inverse frequencies θ^(-2i/d) of the rotary pairs, changed by
// `linear` (all divided by the factor), `llama3` (Llama 3.1: low frequencies divided by the factor,
// high ones kept, a smooth blend between) or `dynamic` (NTK: the base grows with the sequence length,
// but only past max_position_embeddings — and hayai's context stops there, so within it the
// frequencies are the default ones, as transformers computes them for such lengths).
import Foundation

public enum RopeScaling: Codable, Sendable, Equatable {
    case none
    case linear(factor: Double)
    case dynamicNTK(factor: Double)
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)

    /// The types transformers' config may name, and what hayai calls them in errors.
    public static let supportedTypes = ["default", "linear", "dynamic", "llama3"]

    /// Inverse frequencies of the `rotaryDim / 2` rotary pairs: (rotaryDim / 2).
    public func inverseFrequencies(rotaryDim: Int, theta: Float) -> [Float] {
        let half = rotaryDim / 2
        let base = (0..<half).map { i in 1 / pow(Double(theta), Double(2 * i) / Double(rotaryDim)) }
        switch self {
        case .none, .dynamicNTK:
            return base.map { Float($0) }
        case .linear(let factor):
            return base.map { Float($0 / factor) }
        case .llama3(let factor, let low, let high, let original):
            // _compute_llama3_parameters: wavelengths longer than original/low are divided by the factor,
            // shorter than original/high kept, and those between blended by a smooth factor.
            let lowWavelength = Double(original) / low, highWavelength = Double(original) / high
            return base.map { f in
                let wavelength = 2 * Double.pi / f
                if wavelength < highWavelength { return Float(f) }
                if wavelength > lowWavelength { return Float(f / factor) }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return Float((1 - smooth) * f / factor + smooth * f)
            }
        }
    }

    /// The keys transformers 5 writes in `rope_parameters` for this scaling (besides rope_theta and
    /// partial_rotary_factor), so a checkpoint hayai writes keeps it.
    public var configParameters: [String: Any] {
        switch self {
        case .none: return ["rope_type": "default"]
        case .linear(let factor): return ["rope_type": "linear", "factor": factor]
        case .dynamicNTK(let factor): return ["rope_type": "dynamic", "factor": factor]
        case .llama3(let factor, let low, let high, let original):
            return ["rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                    "original_max_position_embeddings": original]
        }
    }

    /// Checks the parameters make sense; `path` names the file in the error.
    func validate(path: String) throws {
        func fail(_ what: String) -> CheckpointError { .invalidConfig(path: path, what: what) }
        switch self {
        case .none: break
        case .linear(let factor), .dynamicNTK(let factor):
            guard factor > 0, factor.isFinite else { throw fail("rope scaling factor \(factor) must be positive") }
        case .llama3(let factor, let low, let high, let original):
            guard factor > 0, factor.isFinite else { throw fail("rope scaling factor \(factor) must be positive") }
            guard low > 0, high > low else { throw fail("llama3 rope scaling needs 0 < low_freq_factor \(low) < high_freq_factor \(high)") }
            guard original > 0 else { throw fail("llama3 rope scaling needs a positive original_max_position_embeddings") }
        }
    }

    /// From config.json's `rope_parameters` (transformers 5) or `rope_scaling` (older files), whichever
    /// names a type; an unknown type or a missing parameter is an error naming it.
    static func resolve(_ parameters: HFConfig.RopeParameters?, maxPositions: Int?, path: String) throws -> RopeScaling {
        guard let parameters, let type = parameters.rope_type ?? parameters.type, type != "default" else { return .none }
        func fail(_ what: String) -> CheckpointError { .invalidConfig(path: path, what: what) }
        func factor() throws -> Double {
            guard let f = parameters.factor else { throw fail("rope type '\(type)' without a factor") }
            return f
        }
        switch type {
        case "linear": return .linear(factor: try factor())
        case "dynamic": return .dynamicNTK(factor: try factor())
        case "llama3":
            guard let low = parameters.low_freq_factor, let high = parameters.high_freq_factor else {
                throw fail("rope type 'llama3' needs low_freq_factor and high_freq_factor")
            }
            guard let original = parameters.original_max_position_embeddings ?? maxPositions else {
                throw fail("rope type 'llama3' needs original_max_position_embeddings")
            }
            return .llama3(factor: try factor(), lowFrequencyFactor: low, highFrequencyFactor: high, originalContext: original)
        default:
            throw fail("rope type '\(type)' is not supported (hayai implements \(supportedTypes.joined(separator: ", ")))")
        }
    }
}
