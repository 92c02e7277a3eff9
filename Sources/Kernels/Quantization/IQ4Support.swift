// IQ4_NL and IQ4_XS: 4-bit codes that index a fixed non-linear table (ggml's kvalues_iq4nl) instead
// of standing for evenly spaced values, which puts more levels near zero where weights cluster.
//   IQ4_NL (18 bytes per 32):  f16 d, qs[16]; x = d·table[q].
//   IQ4_XS (136 bytes per 256): f16 d, u16 scales_h, scales_l[4], qs[128]; 8 sub-blocks of 32 with a
//                               6-bit scale ls each, x = d·(ls − 32)·table[q].
// A sub-block's 16 qs bytes hold its elements 0..15 in the low nibbles and 16..31 in the high ones.
// The reference quantizer is ggml's quantize_row_iq4_nl_impl without importance weights, step by step.

/// The 16 values a code stands for (ggml's kvalues_iq4nl).
let iq4nlValues: SIMD16<Int8> = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

/// The table value of code `q` (0..<16) as Int.
@inline(__always) func iq4nlValue(_ q: UInt8) -> Int { Int(iq4nlValues[Int(q & 0xF)]) }

/// The 6-bit scale ls of sub-block `ib` (0..<8) of the IQ4_XS block at `block`: low 4 bits from
/// scales_l[ib / 2] (low nibble for even ib), top 2 bits from bits 2·ib, 2·ib + 1 of scales_h.
@inline(__always) func iq4xsScale(_ block: UnsafeRawPointer, _ ib: Int) -> Int {
    let high = Int(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    let low = Int(block.load(fromByteOffset: 4 + ib / 2, as: UInt8.self))
    return (low >> (4 * (ib % 2))) & 0xF | ((high >> (2 * ib)) & 3) << 4
}

/// ggml's GROUP_MAX_EPS: a block whose largest magnitude is below it quantizes to zero.
private let groupMaxEps: Float = 1e-15

/// Table values k (lanes 0..14) and k + 1 of each neighbouring pair; lane 15 is never counted.
private let iq4PairLow = SIMD16<Float>((0..<16).map { $0 < 15 ? Float(iq4nlValues[$0]) : .infinity })
private let iq4PairHigh = SIMD16<Float>((0..<16).map { $0 < 15 ? Float(iq4nlValues[$0 + 1]) : .infinity })

/// The code whose table value is nearest to `x` (ggml's best_index_int8; ties go to the larger value).
/// best_index_int8 searches the pair (k, k + 1) around x and takes k + 1 unless x − table[k] <
/// table[k + 1] − x; the same test over all 15 pairs holds exactly for the pairs below x's, so the code
/// is the number of pairs that pass it: one comparison of 16 lanes instead of a branchy search, which
/// took most of the quantizer's time. Inputs must be finite (or ±infinity: codes 0 and 15).
@inline(__always) func nearestIQ4Code(_ x: Float) -> UInt8 {
    let v = SIMD16<Float>(repeating: x)
    let above = (v - iq4PairLow) .>= (iq4PairHigh - v)
    return UInt8(truncatingIfNeeded: SIMD16<Int32>(repeating: 0).replacing(with: 1, where: above).wrappedSum())
}

/// The scale of 32 values (weights x², ntry 7): start from −max / table[0] and refit by least squares,
/// then try the 15 scales (table[0] + k) / max, k in −7...7, and keep the one with the smallest
/// weighted error (the largest Σwqx² / Σwq²). 0 for a block of (near) zeros.
private func iq4BlockScale(_ x: UnsafePointer<Float>) -> Float {
    var amax: Float = 0, max: Float = 0
    for j in 0..<32 where abs(x[j]) > amax { amax = abs(x[j]); max = x[j] }
    if amax < groupMaxEps { return 0 }
    func sums(_ id: Float) -> (qx: Float, q2: Float) {
        var sumqx: Float = 0, sumq2: Float = 0
        for j in 0..<32 {
            let q = Float(iq4nlValues[Int(nearestIQ4Code(id * x[j]))]), w = x[j] * x[j]
            sumqx += w * q * x[j]
            sumq2 += w * q * q
        }
        return (sumqx, sumq2)
    }
    let first = sums(1 / (-max / Float(iq4nlValues[0])))
    var d = first.qx / first.q2
    var best = d * first.qx
    for step in -7...7 {
        let (sumqx, sumq2) = sums(Float(step + Int(iq4nlValues[0])) / max)
        if sumq2 > 0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2
            best = d * sumqx
        }
    }
    return d
}

/// Packs 32 codes into 16 bytes: element j in the low nibble of byte j, element j + 16 in its high nibble.
@inline(__always) private func packIQ4Codes(_ codes: UnsafePointer<UInt8>, _ out: UnsafeMutableRawPointer) {
    for j in 0..<16 { out.storeBytes(of: codes[j] | codes[j + 16] << 4, toByteOffset: j, as: UInt8.self) }
}

/// One IQ4_NL block (ggml's quantize_row_iq4_nl_ref): d is the block's scale, codes the nearest values.
func quantizeBlockIQ4_NL(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = iq4BlockScale(x)
    writeF16(y, 0, d)
    let id = d != 0 ? 1 / d : 0
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { codes in
        for j in 0..<32 { codes[j] = nearestIQ4Code(id * x[j]) }
        packIQ4Codes(codes.baseAddress!, y + 2)
    }
}

/// One IQ4_XS super-block (ggml's quantize_iq4_xs without importance weights): each sub-block's best
/// scale as for IQ4_NL, the super-block's d = −(the signed scale of largest magnitude) / 32, the 6-bit
/// ls − 32 = nearest(scale / d) clamped to −32...31, and codes against d·(ls − 32) (d before its rounding
/// to half precision, as ggml does).
func quantizeBlockIQ4_XS(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    var scales = SIMD8<Float>()
    var maxScale: Float = 0, amaxScale: Float = 0
    for ib in 0..<8 {
        scales[ib] = iq4BlockScale(x + 32 * ib)
        if abs(scales[ib]) > amaxScale { amaxScale = abs(scales[ib]); maxScale = scales[ib] }
    }
    let d = -maxScale / 32
    writeF16(y, 0, d)
    let id = d != 0 ? 1 / d : 0
    var scalesH: UInt16 = 0
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { codes in
        for ib in 0..<8 {
            let l = Swift.max(-32, Swift.min(31, nearestInt(id * scales[ib])))
            let dl = d * Float(l)
            let idl = dl != 0 ? 1 / dl : 0
            for j in 0..<32 { codes[j] = nearestIQ4Code(idl * x[32 * ib + j]) }
            packIQ4Codes(codes.baseAddress!, y + 8 + 16 * ib)
            let ls = UInt8(l + 32)
            let low = ib % 2 == 0 ? ls & 0xF : y.load(fromByteOffset: 4 + ib / 2, as: UInt8.self) | (ls & 0xF) << 4
            y.storeBytes(of: low, toByteOffset: 4 + ib / 2, as: UInt8.self)
            scalesH |= UInt16(ls >> 4) << UInt16(2 * ib)
        }
    }
    y.storeBytes(of: scalesH, toByteOffset: 2, as: UInt16.self)
}
