// ggml type names as llama.cpp prints them (F32, Q8_0, Q4_K, IQ2_XXS), for error messages.
// Kept here because `GGMLType.description` in Kernels interpolates `self` for quantized types and
// so recurses until the stack overflows; messages in this module must never crash.
import Kernels

func typeName(_ type: GGMLType) -> String {
    switch type {
    case .f32: return "F32"
    case .f16: return "F16"
    case .bf16: return "BF16"
    case .f64: return "F64"
    case .i8: return "I8"
    case .i16: return "I16"
    case .i32: return "I32"
    case .i64: return "I64"
    case .q4_0: return "Q4_0"
    case .q4_1: return "Q4_1"
    case .q5_0: return "Q5_0"
    case .q5_1: return "Q5_1"
    case .q8_0: return "Q8_0"
    case .q8_1: return "Q8_1"
    case .q2_K: return "Q2_K"
    case .q3_K: return "Q3_K"
    case .q4_K: return "Q4_K"
    case .q5_K: return "Q5_K"
    case .q6_K: return "Q6_K"
    case .q8_K: return "Q8_K"
    case .iq2_xxs: return "IQ2_XXS"
    case .iq2_xs: return "IQ2_XS"
    case .iq3_xxs: return "IQ3_XXS"
    case .iq1_s: return "IQ1_S"
    case .iq4_nl: return "IQ4_NL"
    case .iq3_s: return "IQ3_S"
    case .iq2_s: return "IQ2_S"
    case .iq4_xs: return "IQ4_XS"
    case .iq1_m: return "IQ1_M"
    }
}

/// DequantizeError's message without its own interpolation of the type (see above).
func describe(_ error: DequantizeError) -> String {
    switch error {
    case .unsupported(let t): return "tensor type \(typeName(t)) cannot be dequantized yet"
    case .partialBlock(let t, let n): return "\(n) elements is not a whole number of \(typeName(t)) blocks of \(t.blockSize)"
    }
}
