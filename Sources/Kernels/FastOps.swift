// The decoder's row operations in AVX2 (CKernels/rowops.c): what inference runs per token.
// Ops holds the plain versions (and Training's forward halves); tests hold these to them.
import CKernels

public enum FastOps {
    /// x: (t, c) -> out: (t, c); `out` may alias `x`.
    public static func layerNorm(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                 eps: Float, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<t { hayai_layernorm(x + r * c, Int32(c), weight, bias, eps, out + r * c) }
    }

    public static func rmsNorm(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>, eps: Float,
                               into out: UnsafeMutablePointer<Float>) {
        for r in 0..<t { hayai_rmsnorm(x + r * c, Int32(c), weight, eps, out + r * c) }
    }

    /// In-place softmax of n values.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) { hayai_softmax(x, Int32(n)) }

    /// Softmax's backward in place over one row of n probabilities: gradient_j = p_j · (gradient_j − Σ p·gradient).
    public static func softmaxBackward(probs: UnsafePointer<Float>, gradient: UnsafeMutablePointer<Float>, n: Int) {
        hayai_softmax_backward(probs, gradient, Int32(n))
    }

    /// log Σ exp(x_i) of n values (max-shifted): cross-entropy's normaliser.
    public static func logSumExp(_ x: UnsafePointer<Float>, n: Int) -> Float { hayai_logsumexp(x, Int32(n)) }

    /// In place: x[i] = exp(x[i] − logSumExp) · scale, the softmax from a known normaliser, scaled.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int, logSumExp: Float, scale: Float) {
        hayai_softmax_from_lse(x, Int32(n), logSumExp, scale)
    }

    /// up[i] *= silu(gate[i])
    public static func siluMul(_ up: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, count: Int) {
        hayai_silu_mul(up, gate, count)
    }

    /// out[i] = silu(gate[i]) · up[i] (training keeps gate and up for the backward).
    public static func siluMul(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        hayai_silu_mul_into(gate, up, out, count)
    }

    /// The backward of siluMul(gate:up:into:): dgate = dout·up·silu'(gate), dup = dout·silu(gate) (both overwritten).
    public static func siluMulBackward(dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                       dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, count: Int) {
        hayai_silu_mul_backward(dout, gate, up, dgate, dup, count)
    }

    /// x[i] += y[i]
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) { hayai_add(x, y, count) }

    public static func halfToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        hayai_f16_to_f32(src, dst, count)
    }

    public static func floatToHalf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, count: Int) {
        hayai_f32_to_f16(src, dst, count)
    }
}

/// How a key/value cache stores its rows.
public enum KVStorage: String, CaseIterable, Sendable, CustomStringConvertible {
    case f32, f16, q8_0
    public var ggmlType: GGMLType { switch self { case .f32: return .f32; case .f16: return .f16; case .q8_0: return .q8_0 } }
    /// Bytes of one row of `elements` (a whole number of 32-blocks for Q8_0).
    public func rowBytes(_ elements: Int) -> Int? { ggmlType.byteCount(elements: elements) }
    public var description: String { rawValue }

    /// Query heads `heads` of one token (q and out are (all heads, d)) over `length` cache rows,
    /// position by position so that each row's slices are read together; head h reads kv head
    /// h / group. `scores` has `ldScores` floats per head.
    public func attend(queries q: UnsafePointer<Float>, heads: Range<Int>, group: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer,
                       rowBytes: Int, d: Int, length: Int, scale: Float, scores: UnsafeMutablePointer<Float>, ldScores: Int,
                       into out: UnsafeMutablePointer<Float>) {
        hayai_attend_heads(Int32(ggmlType.rawValue), q, keys, values, rowBytes, Int32(d), Int32(group), Int32(heads.lowerBound),
                           Int32(heads.upperBound), Int32(length), scale, scores, ldScores, out)
    }

    /// Whether `attend` runs an F16 or Q8_0 cache on AVX-512 where the CPU has it (each row's kv-head slice
    /// widened once for the group's query heads, out kept in registers); the AVX2 path is the one it is
    /// tested against. Process-wide; tests turn it off to compare.
    public static var attendOnAVX512: Bool {
        get { hayai_attend_heads_avx512() != 0 }
        set { hayai_attend_heads_set_avx512(newValue ? 1 : 0) }
    }

    /// Elements [offset, offset + d) of `rows` cache rows as Float32, (rows, d) row-major.
    public func rowsAsFloat(_ base: UnsafeRawPointer, rowBytes: Int, offset: Int, d: Int, rows: Int, into out: UnsafeMutablePointer<Float>) {
        hayai_kv_rows_to_f32(Int32(ggmlType.rawValue), base, rowBytes, Int32(offset), Int32(d), Int32(rows), out)
    }

    /// Stores one row of `elements` floats.
    public func store(_ x: UnsafePointer<Float>, elements: Int, into row: UnsafeMutableRawPointer) {
        switch self {
        case .f32: row.assumingMemoryBound(to: Float.self).update(from: x, count: elements)
        case .f16: hayai_f32_to_f16(x, row.assumingMemoryBound(to: UInt16.self), elements)
        case .q8_0: hayai_quantize_row_q8_0(x, row, Int32(elements))
        }
    }
}
