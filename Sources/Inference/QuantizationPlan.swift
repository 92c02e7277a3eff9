// Which GGML type each tensor gets when a model is quantized, following llama.cpp: the converter
// (convert_hf_to_gguf.py --outtype) for f32/f16/q8_0 and llama-quantize's llama_tensor_get_type for
// the rest, as far as it applies to dense decoders:
//   - 1-D tensors (norms, biases) stay F32; so does every tensor for --type f32.
//   - output.weight (or token_embd.weight when the embeddings are tied) becomes Q6_K for every
//     quantized type except Q8_0 (Q8_0 when its rows are not whole 256-blocks), as llama-quantize does.
//   - q4_k_m: Q4_K, with Q6_K for attn_v and ffn_down in the layers use_more_bits picks (the first
//     and last eighth and every third layer between: about half of them), Q5_K for a fused attn_qkv.
//   - q5_k_m: the same with Q5_K, and Q6_K for a fused attn_qkv.
//   - q3_k_m: Q3_K, with Q5_K for attn_v in layers 0 and 1 and Q4_K in the others, Q5_K for ffn_down in
//     the first sixteenth of the layers and Q4_K in the others, Q4_K for attn_output and a fused attn_qkv
//     (llama-quantize's Q3_K_M for every architecture but Falcon).
//   - q4_k / q5_k / q6_k put every matrix in that type (llama.cpp's Q4_K_S/Q5_K_S also bump a few
//     early attn_v/ffn_down layers; hayai does not).
//   - q2_k: Q2_K, with more bits where llama-quantize's Q2_K gives them: attn_v (Q4_K when the model
//     has ≥ 4 query heads per KV head, else Q3_K), attn_output and ffn_down (Q3_K).
//   - iq4_nl / iq4_xs: that type, with Q5_K for attn_v where four or more query heads share a KV
//     head and for ffn_down in the first eighth of the layers (llama-quantize without an importance
//     matrix, which is how hayai quantizes).
//   - Rows that are not whole blocks fall back as llama-quantize does (Q4_K→Q5_0, Q5_K→Q5_1,
//     Q6_K→Q8_0, Q2_K, Q3_K and IQ4_XS→IQ4_NL), and to F16 where even 32-blocks do not fit (what the
//     converter writes).
import Kernels

public enum QuantizeTarget: String, CaseIterable, Sendable, CustomStringConvertible {
    case q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q4_k, q5_k, q6_k, q4_k_m, q5_k_m, q3_k_m, f16, f32
    case iq4_nl, iq4_xs

    /// The type most matrices get.
    public var baseType: GGMLType {
        switch self {
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q2_k: return .q2_K
        case .q4_k, .q4_k_m: return .q4_K
        case .q5_k, .q5_k_m: return .q5_K
        case .q6_k: return .q6_K
        case .q3_k_m: return .q3_K
        case .iq4_nl: return .iq4_nl
        case .iq4_xs: return .iq4_xs
        case .f16: return .f16
        case .f32: return .f32
        }
    }

    /// llama.cpp's `general.file_type` (enum llama_ftype).
    public var fileType: UInt32 {
        switch self {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        case .q5_0: return 8
        case .q5_1: return 9
        case .q2_k: return 10    // MOSTLY_Q2_K
        case .q4_k: return 14    // MOSTLY_Q4_K_S
        case .q4_k_m: return 15
        case .q5_k_m: return 17
        case .q5_k: return 16    // MOSTLY_Q5_K_S
        case .q6_k: return 18
        case .q3_k_m: return 12   // MOSTLY_Q3_K_M
        case .iq4_nl: return 25  // MOSTLY_IQ4_NL
        case .iq4_xs: return 30  // MOSTLY_IQ4_XS
        }
    }

    public var description: String { rawValue }
}

public enum QuantizationPlan {
    /// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
    public static func useMoreBits(layer i: Int, of n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// The type of the tensor `name` (GGUF name) of `shape` (row-major, [rows, cols] for a matrix).
    /// `hasOutput`: whether the model has its own output.weight (else token_embd plays its part).
    /// `queryHeadsPerKVHead`: llama.cpp's n_gqa (q2_k, iq4_nl and iq4_xs give attn_v more bits from 4 up).
    public static func type(for name: String, shape: [Int], target: QuantizeTarget, layerCount: Int, hasOutput: Bool,
                            queryHeadsPerKVHead: Int) -> GGMLType {
        guard shape.count >= 2, target != .f32 else { return .f32 }
        if target == .f16 { return .f16 }
        let cols = shape.last!
        var type = target.baseType
        let isOutput = name == "output.weight" || (!hasOutput && name == "token_embd.weight")
        let layer = layerIndex(name)
        if isOutput, target != .q8_0 {
            type = cols % 256 == 0 ? .q6_K : .q8_0
        } else if target == .q4_k_m || target == .q5_k_m, let layer {
            if name.hasSuffix(".attn_v.weight") || name.hasSuffix(".ffn_down.weight") {
                if useMoreBits(layer: layer, of: layerCount) { type = .q6_K }
            } else if name.hasSuffix(".attn_qkv.weight") {
                type = target == .q4_k_m ? .q5_K : .q6_K
            }
        } else if target == .q2_k, layer != nil {
            if name.hasSuffix(".attn_v.weight") {
                type = queryHeadsPerKVHead >= 4 ? .q4_K : .q3_K
            } else if name.hasSuffix(".attn_output.weight") || name.hasSuffix(".ffn_down.weight") {
                type = .q3_K
            }
        } else if target == .q3_k_m, let layer {
            if name.hasSuffix(".attn_v.weight") {
                type = layer < 2 ? .q5_K : .q4_K
            } else if name.hasSuffix(".ffn_down.weight") {
                type = layer < layerCount / 16 ? .q5_K : .q4_K
            } else if name.hasSuffix(".attn_output.weight") || name.hasSuffix(".attn_qkv.weight") {
                type = .q4_K
            }
        } else if target == .iq4_nl || target == .iq4_xs, let layer {
            if name.hasSuffix(".attn_v.weight") && queryHeadsPerKVHead >= 4 { type = .q5_K }
            if name.hasSuffix(".ffn_down.weight") && layer < layerCount / 8 { type = .q5_K }
        }
        if cols % type.blockSize != 0 {
            switch type {
            case .q4_K: type = .q5_0
            case .q5_K: type = .q5_1
            case .q6_K: type = .q8_0
            case .q2_K, .q3_K, .iq4_xs: type = .iq4_nl
            default: break
            }
            if cols % type.blockSize != 0 { type = .f16 }
        }
        return type
    }

    /// N in "blk.N.…".
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("blk.") else { return nil }
        return Int(name.dropFirst(4).prefix { $0.isNumber })
    }
}
