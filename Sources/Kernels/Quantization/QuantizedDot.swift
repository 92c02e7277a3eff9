// Which activation format each weight type is multiplied with, and the dot product itself,
// dispatched to the AVX2 kernels (CKernels) or the portable scalar references.
//
// Activation formats follow ggml's CPU backend so the integer math is llama.cpp's:
// Q8_0 for Q8_0/Q4_0/Q5_0/IQ4_NL, Q8_1 for Q4_1/Q5_1 (its s = d·Σq carries the weight minimum's
// term, Σ m·x ≈ m·s, exactly as ggml computes it), Q8_K for the K-quants and IQ4_XS.
import CKernels

public enum QuantizedDot {
    /// Which implementation computes the dot products.
    public enum Path: Sendable, CustomStringConvertible {
        case avx2, scalar
        public var description: String { self == .avx2 ? "avx2" : "scalar" }
    }

    /// True when the running CPU has AVX2, FMA and F16C.
    public static let hasAVX2: Bool = hayai_cpu_has_avx2() != 0

    /// The fastest path this CPU runs.
    public static var bestPath: Path { hasAVX2 ? .avx2 : .scalar }

    /// Weight types with a quantized dot product.
    public static let supportedTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                                   .iq4_nl, .iq4_xs]

    /// The format activations are quantized to before a dot with weights of `type`; nil if unsupported.
    public static func activationType(for type: GGMLType) -> GGMLType? {
        switch type {
        case .q8_0, .q4_0, .q5_0: return .q8_0
        case .iq4_nl: return .q8_0
        case .q4_1, .q5_1: return .q8_1
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return .q8_K
        default: return nil
        }
    }

    /// Σ w·x over `count` elements: `weights` is one row of `type`, `activations` the same count in
    /// `activationType(for: type)`. `count` must be a whole number of blocks.
    public static func dot(_ type: GGMLType, count: Int, weights: UnsafeRawPointer, activations: UnsafeRawPointer,
                           path: Path = bestPath) -> Float {
        let n = Int32(count)
        switch (path, type) {
        case (.avx2, .q8_0): return hayai_avx2_dot_q8_0_q8_0(n, weights, activations)
        case (.avx2, .q4_0): return hayai_avx2_dot_q4_0_q8_0(n, weights, activations)
        case (.avx2, .q4_1): return hayai_avx2_dot_q4_1_q8_1(n, weights, activations)
        case (.avx2, .q5_0): return hayai_avx2_dot_q5_0_q8_0(n, weights, activations)
        case (.avx2, .q5_1): return hayai_avx2_dot_q5_1_q8_1(n, weights, activations)
        case (.avx2, .q2_K): return hayai_avx2_dot_q2_K_q8_K(n, weights, activations)
        case (.avx2, .q4_K): return hayai_avx2_dot_q4_K_q8_K(n, weights, activations)
        case (.avx2, .q5_K): return hayai_avx2_dot_q5_K_q8_K(n, weights, activations)
        case (.avx2, .q6_K): return hayai_avx2_dot_q6_K_q8_K(n, weights, activations)
        case (.avx2, .q3_K): return hayai_avx2_dot_q3_K_q8_K(n, weights, activations)
        case (.avx2, .iq4_nl): return hayai_avx2_dot_iq4_nl_q8_0(n, weights, activations)
        case (.avx2, .iq4_xs): return hayai_avx2_dot_iq4_xs_q8_K(n, weights, activations)
        case (.scalar, .q8_0): return QuantizedDotReference.q8_0(count, weights, activations)
        case (.scalar, .q4_0): return QuantizedDotReference.q4_0(count, weights, activations)
        case (.scalar, .q4_1): return QuantizedDotReference.q4_1(count, weights, activations)
        case (.scalar, .q5_0): return QuantizedDotReference.q5_0(count, weights, activations)
        case (.scalar, .q5_1): return QuantizedDotReference.q5_1(count, weights, activations)
        case (.scalar, .q2_K): return QuantizedDotReference.q2_K(count, weights, activations)
        case (.scalar, .q4_K): return QuantizedDotReference.q4_K(count, weights, activations)
        case (.scalar, .q5_K): return QuantizedDotReference.q5_K(count, weights, activations)
        case (.scalar, .q6_K): return QuantizedDotReference.q6_K(count, weights, activations)
        case (.scalar, .q3_K): return QuantizedDotReference.q3_K(count, weights, activations)
        case (.scalar, .iq4_nl): return QuantizedDotReference.iq4_nl(count, weights, activations)
        case (.scalar, .iq4_xs): return QuantizedDotReference.iq4_xs(count, weights, activations)
        default: fatalError("no quantized dot product for \(type)")
        }
    }

    /// y[s·ldy + r] = row r · x_s for `rows` weight rows `rowBytes` apart and `tokens` activation rows
    /// `activationStride` bytes apart (Q4_0 and Q8_0 reuse each unpacked weight block for 4 tokens).
    public static func dotRowsTokens(_ type: GGMLType, count: Int, weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
                                     activations: UnsafeRawPointer, activationStride: Int, tokens: Int,
                                     into y: UnsafeMutablePointer<Float>, ldy: Int, path: Path = bestPath) {
        if path == .avx2, hayai_avx2_dot_rows_tokens(type.rawValue, Int32(count), weights, rowBytes, Int32(rows),
                                                     activations, activationStride, Int32(tokens), y, ldy) != 0 {
            return
        }
        for s in 0..<tokens {
            dotRows(type, count: count, weights: weights, rowBytes: rowBytes, rows: rows,
                    activations: activations + s * activationStride, into: y + s * ldy, path: path)
        }
    }

    /// y[r] = row r · x for `rows` consecutive weight rows `rowBytes` apart.
    public static func dotRows(_ type: GGMLType, count: Int, weights: UnsafeRawPointer, rowBytes: Int, rows: Int,
                               activations: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>, path: Path = bestPath) {
        if path == .avx2, hayai_avx2_dot_rows(type.rawValue, Int32(count), weights, rowBytes, Int32(rows), activations, y) != 0 {
            return
        }
        for r in 0..<rows {
            y[r] = dot(type, count: count, weights: weights + r * rowBytes, activations: activations, path: path)
        }
    }
}
