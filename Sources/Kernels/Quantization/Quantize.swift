// Scalar reference quantization (float rows -> GGUF blocks), following ggml's `quantize_row_*_ref`
// step by step so that `hayai quantize` writes the blocks llama.cpp's own tools would write.
// Q8_0, Q8_1 and Q8_K double as the activation formats of the quantized dot products.

public enum QuantizeError: Error, CustomStringConvertible {
    case unsupported(GGMLType)
    case partialBlock(GGMLType, Int)
    public var description: String {
        switch self {
        case .unsupported(let t): return "cannot quantize to \(t) yet"
        case .partialBlock(let t, let n): return "\(n) elements is not a whole number of \(t) blocks of \(t.blockSize)"
        }
    }
}

/// The types `quantizeReference` can write.
public let referenceQuantizableTypes: [GGMLType] = [.q8_0, .q8_1, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K,
                                                    .iq4_nl, .iq4_xs]

/// Quantizes `count` floats at `src` into `count / type.blockSize` blocks of `type` at `dst`
/// (`type.byteCount(elements: count)` bytes). Inputs must be finite.
public func quantizeReference(_ type: GGMLType, _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, count: Int) throws {
    guard referenceQuantizableTypes.contains(type) else { throw QuantizeError.unsupported(type) }
    guard count % type.blockSize == 0 else { throw QuantizeError.partialBlock(type, count) }
    let blocks = count / type.blockSize
    let size = type.bytesPerBlock
    for b in 0..<blocks {
        let x = src + b * type.blockSize
        let y = dst + b * size
        switch type {
        case .q8_0: quantizeBlockQ8_0(x, y)
        case .q8_1: quantizeBlockQ8_1(x, y)
        case .q4_0: quantizeBlockQ4_0(x, y)
        case .q4_1: quantizeBlockQ4_1(x, y)
        case .q5_0: quantizeBlockQ5_0(x, y)
        case .q5_1: quantizeBlockQ5_1(x, y)
        case .q2_K: quantizeBlockQ2_K(x, y)
        case .q4_K: quantizeBlockQ4_K(x, y)
        case .q5_K: quantizeBlockQ5_K(x, y)
        case .q6_K: quantizeBlockQ6_K(x, y)
        case .q3_K: quantizeBlockQ3_K(x, y)
        case .q8_K: quantizeBlockQ8_K(x, y)
        case .iq4_nl: quantizeBlockIQ4_NL(x, y)
        case .iq4_xs: quantizeBlockIQ4_XS(x, y)
        default: fatalError("unreachable")
        }
    }
}

// MARK: 32-element blocks

@inline(__always) private func absMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var amax: Float = 0
    for j in 0..<n { amax = max(amax, abs(x[j])) }
    return amax
}

/// Value of largest magnitude, keeping its sign (first one wins on ties).
@inline(__always) private func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var amax: Float = 0, m: Float = 0
    for j in 0..<n where amax < abs(x[j]) { amax = abs(x[j]); m = x[j] }
    return m
}

@inline(__always) private func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
    for j in 0..<n {
        if x[j] < lo { lo = x[j] }
        if x[j] > hi { hi = x[j] }
    }
    return (lo, hi)
}

/// C's `(int8_t)f` for the small positive values the 4/5-bit quantizers produce: truncation toward zero.
@inline(__always) private func truncateToInt(_ f: Float) -> Int { Int(max(-128, min(127, f))) }

/// The scale of a block of activations: absmax / 127, or NaN when the block holds NaN or infinity
/// (activations that overflowed), so the product comes out NaN and the logits' finite check reports it.
/// absMax alone would skip a NaN (max(0, .nan) is 0) and turn infinity into a scale of infinity.
@inline(__always) private func activationScale(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var probe: Float = 0
    for j in 0..<n { probe += x[j] * 0 }   // 0 for finite values, NaN for NaN or ±infinity
    return probe == 0 ? absMax(x, n) / 127 : .nan
}

/// round(v) as a quant in -127...127; NaN (a non-finite activation, or 0 × an infinite inverse scale)
/// gives 0 instead of trapping in Int8(_:).
@inline(__always) private func roundedQuant(_ v: Float) -> Int8 {
    v.isNaN ? 0 : Int8(max(-127, min(127, v.rounded())))
}

/// d = absmax / 127, q = round(x / d) (half away from zero, as C's roundf).
@inline(__always) func quantizeBlockQ8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = activationScale(x, 32)
    let id: Float = d.isFinite && d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    let qs = (y + 2).assumingMemoryBound(to: Int8.self)
    for j in 0..<32 { qs[j] = roundedQuant(x[j] * id) }
}

/// Q8_0's quants plus s = d · Σq, the term the *_1 dot products need.
@inline(__always) func quantizeBlockQ8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = activationScale(x, 32)
    let id: Float = d.isFinite && d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    let qs = (y + 4).assumingMemoryBound(to: Int8.self)
    var sum = 0
    for j in 0..<32 {
        qs[j] = roundedQuant(x[j] * id)
        sum += Int(qs[j])
    }
    writeF16(y, 2, Float(sum) * d)
}

private func quantizeBlockQ4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = signedAbsMax(x, 32) / -8
    let id: Float = d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    let qs = (y + 2).assumingMemoryBound(to: UInt8.self)
    for j in 0..<16 {
        let q0 = UInt8(min(15, truncateToInt(x[j] * id + 8.5)))
        let q1 = UInt8(min(15, truncateToInt(x[j + 16] * id + 8.5)))
        qs[j] = q0 | (q1 << 4)
    }
}

private func quantizeBlockQ4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, hi) = minMax(x, 32)
    let d = (hi - lo) / 15
    let id: Float = d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    writeF16(y, 2, lo)
    let qs = (y + 4).assumingMemoryBound(to: UInt8.self)
    for j in 0..<16 {
        let q0 = UInt8(min(15, truncateToInt((x[j] - lo) * id + 0.5)))
        let q1 = UInt8(min(15, truncateToInt((x[j + 16] - lo) * id + 0.5)))
        qs[j] = q0 | (q1 << 4)
    }
}

private func quantizeBlockQ5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let d = signedAbsMax(x, 32) / -16
    let id: Float = d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    let qs = (y + 6).assumingMemoryBound(to: UInt8.self)
    var qh: UInt32 = 0
    for j in 0..<16 {
        let q0 = UInt8(min(31, truncateToInt(x[j] * id + 16.5)))
        let q1 = UInt8(min(31, truncateToInt(x[j + 16] * id + 16.5)))
        qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4)
        qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
    }
    y.storeBytes(of: qh, toByteOffset: 2, as: UInt32.self)
}

private func quantizeBlockQ5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let (lo, hi) = minMax(x, 32)
    let d = (hi - lo) / 31
    let id: Float = d != 0 ? 1 / d : 0
    writeF16(y, 0, d)
    writeF16(y, 2, lo)
    let qs = (y + 8).assumingMemoryBound(to: UInt8.self)
    var qh: UInt32 = 0
    for j in 0..<16 {
        // ggml casts to uint8_t without clamping; codes stay within 0...31 for finite input.
        let q0 = UInt8(truncatingIfNeeded: truncateToInt((x[j] - lo) * id + 0.5))
        let q1 = UInt8(truncatingIfNeeded: truncateToInt((x[j + 16] - lo) * id + 0.5))
        qs[j] = (q0 & 0x0F) | ((q1 & 0x0F) << 4)
        qh |= UInt32((q0 & 0x10) >> 4) << UInt32(j)
        qh |= UInt32((q1 & 0x10) >> 4) << UInt32(j + 16)
    }
    y.storeBytes(of: qh, toByteOffset: 4, as: UInt32.self)
}

// MARK: K-quants (256-element super-blocks)

/// Q4_K/Q5_K share everything but the code width: 8 sub-blocks of 32 fitted by `makeQKX2Quants`,
/// their scales and mins quantized to 6 bits against the super-block's largest, then codes redone
/// with the rounded scales. Writes d, dmin and the 12 scale bytes at `y`, returns the codes.
private func quantizeSuperBlockK4(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, nmax: Int,
                                  rmin: Float, nstep: Int, L: UnsafeMutablePointer<UInt8>) {
    var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
    var weights = [Float](repeating: 0, count: 32)
    var Laux = [UInt8](repeating: 0, count: 32)
    var maxScale: Float = 0, maxMin: Float = 0
    for j in 0..<8 {
        let xs = x + 32 * j
        var sumX2: Float = 0
        for l in 0..<32 { sumX2 += xs[l] * xs[l] }
        let avX = (sumX2 / 32).squareRoot()
        for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
        let (scale, minV) = makeQKX2Quants(n: 32, nmax: nmax, x: xs, weights: weights, L: L + 32 * j, Laux: &Laux,
                                            rmin: rmin, rdelta: 0.1, nstep: nstep, useMad: false)
        scales[j] = scale
        mins[j] = minV
        if scale > maxScale { maxScale = scale }
        if minV > maxMin { maxMin = minV }
    }
    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
    var ls = [UInt8](repeating: 0, count: 8), lm = [UInt8](repeating: 0, count: 8)
    for j in 0..<8 {
        ls[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
        lm[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
    }
    let packed = (y + 4).assumingMemoryBound(to: UInt8.self)
    packScalesK4(ls, lm, into: packed)
    writeF16(y, 0, maxScale / 63)
    writeF16(y, 2, maxMin / 63)
    let d = readF16(y, 0), dmin = readF16(y, 2)
    for j in 0..<8 {
        let (sc, m) = scaleMinK4(j, packed)
        let dj = d * Float(sc)
        if dj == 0 { continue }
        let dm = dmin * Float(m)
        for i in 0..<32 {
            L[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((x[32 * j + i] + dm) / dj))))
        }
    }
}

/// ggml's `quantize_row_q2_K_ref`: per 16 elements a 2-bit code grid fitted by make_qkx2_quants
/// (weights |x|, absolute error), the 16 scales and 16 mins then quantized to 4 bits against the
/// largest of each (d = max scale / 15, dmin = max min / 15), and the codes re-fitted to those.
private func quantizeBlockQ2_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
        let L = L.baseAddress!
        var weights = [Float](repeating: 0, count: 16)
        var Laux = [UInt8](repeating: 0, count: 16)
        var scales = [Float](repeating: 0, count: 16), mins = [Float](repeating: 0, count: 16)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<16 {
            let xs = x + 16 * j
            for l in 0..<16 { weights[l] = abs(xs[l]) }
            let (scale, minV) = makeQKX2Quants(n: 16, nmax: 3, x: xs, weights: weights, L: L + 16 * j, Laux: &Laux,
                                                rmin: -0.5, rdelta: 0.1, nstep: 15, useMad: true)
            scales[j] = scale
            mins[j] = minV
            if scale > maxScale { maxScale = scale }
            if minV > maxMin { maxMin = minV }
        }
        let sc = y.assumingMemoryBound(to: UInt8.self)
        // Codes of at most 15 (the largest value maps to exactly 15), written as ggml's `(uint8_t)l`.
        if maxScale > 0 {
            let iscale = 15 / maxScale
            for j in 0..<16 { sc[j] = UInt8(truncatingIfNeeded: nearestInt(iscale * scales[j])) }
            writeF16(y, 80, maxScale / 15)
        } else {
            for j in 0..<16 { sc[j] = 0 }
            writeF16(y, 80, 0)
        }
        if maxMin > 0 {
            let iscale = 15 / maxMin
            for j in 0..<16 { sc[j] |= UInt8(truncatingIfNeeded: nearestInt(iscale * mins[j]) << 4) }
            writeF16(y, 82, maxMin / 15)
        } else {
            writeF16(y, 82, 0)
        }
        let d = readF16(y, 80), dmin = readF16(y, 82)
        for j in 0..<16 {
            let dl = d * Float(sc[j] & 0xF)
            if dl == 0 { continue }
            let dm = dmin * Float(sc[j] >> 4)
            for i in 0..<16 { L[16 * j + i] = UInt8(max(0, min(3, nearestInt((x[16 * j + i] + dm) / dl)))) }
        }
        let qs = sc + 16
        for half in 0..<2 {
            for l in 0..<32 {
                let e = 128 * half + l
                qs[32 * half + l] = L[e] | (L[e + 32] << 2) | (L[e + 64] << 4) | (L[e + 96] << 6)
            }
        }
    }
}

private func quantizeBlockQ4_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
        let L = L.baseAddress!
        quantizeSuperBlockK4(x, y, nmax: 15, rmin: -1, nstep: 20, L: L)
        let q = (y + 16).assumingMemoryBound(to: UInt8.self)
        for j in 0..<4 {
            for l in 0..<32 { q[32 * j + l] = L[64 * j + l] | (L[64 * j + l + 32] << 4) }
        }
    }
}

private func quantizeBlockQ5_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { L in
        let L = L.baseAddress!
        quantizeSuperBlockK4(x, y, nmax: 31, rmin: -0.5, nstep: 15, L: L)
        let qh = (y + 16).assumingMemoryBound(to: UInt8.self)
        let ql = (y + 48).assumingMemoryBound(to: UInt8.self)
        for j in 0..<32 { qh[j] = 0 }
        var m1: UInt8 = 1, m2: UInt8 = 2
        for n in 0..<4 {
            for j in 0..<32 {
                var l1 = L[64 * n + j], l2 = L[64 * n + j + 32]
                if l1 > 15 { l1 -= 16; qh[j] |= m1 }
                if l2 > 15 { l2 -= 16; qh[j] |= m2 }
                ql[32 * n + j] = l1 | (l2 << 4)
            }
            m1 <<= 2; m2 <<= 2
        }
    }
}

private func quantizeBlockQ6_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { L in
        let L = L.baseAddress!
        var scales = [Float](repeating: 0, count: 16)
        var maxScale: Float = 0, maxAbsScale: Float = 0
        for ib in 0..<16 {
            let scale = makeQXQuants(n: 16, nmax: 32, x: x + 16 * ib, L: L + 16 * ib)
            scales[ib] = scale
            if abs(scale) > maxAbsScale { maxAbsScale = abs(scale); maxScale = scale }
        }
        if maxAbsScale < 1e-15 {
            y.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
            return
        }
        let iscale = -128 / maxScale
        writeF16(y, 208, 1 / iscale)
        let sc = (y + 192).assumingMemoryBound(to: Int8.self)
        for ib in 0..<16 { sc[ib] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib]))) }
        let d = readF16(y, 208)
        for j in 0..<16 {
            let dj = d * Float(sc[j])
            if dj == 0 { continue }
            for i in 0..<16 {
                L[16 * j + i] = Int8(max(-32, min(31, nearestInt(x[16 * j + i] / dj))) + 32)
            }
        }
        let ql = y.assumingMemoryBound(to: UInt8.self)
        let qh = (y + 128).assumingMemoryBound(to: UInt8.self)
        let U = UnsafeRawPointer(L).assumingMemoryBound(to: UInt8.self)
        for half in 0..<2 {
            let j = 128 * half
            for l in 0..<32 {
                let q1 = U[j + l] & 0xF, q2 = U[j + l + 32] & 0xF, q3 = U[j + l + 64] & 0xF, q4 = U[j + l + 96] & 0xF
                ql[64 * half + l] = q1 | (q3 << 4)
                ql[64 * half + l + 32] = q2 | (q4 << 4)
                qh[32 * half + l] = (U[j + l] >> 4) | ((U[j + l + 32] >> 4) << 2) | ((U[j + l + 64] >> 4) << 4) | ((U[j + l + 96] >> 4) << 6)
            }
        }
    }
}

/// ggml's `quantize_row_q3_K_ref`: codes per sub-block of 16 by `makeQ3Quants`, the 16 sub-block scales
/// to 6 bits (offset 32) against the one of largest magnitude (d = −max/32), then every code again
/// against its rounded scale; a sub-block whose scale rounds to 0 keeps its first codes.
private func quantizeBlockQ3_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    withUnsafeTemporaryAllocation(of: Int8.self, capacity: 256) { L in
        let L = L.baseAddress!
        var scales = [Float](repeating: 0, count: 16)
        var maxScale: Float = 0, amax: Float = 0
        for j in 0..<16 {
            scales[j] = makeQ3Quants(n: 16, nmax: 4, x: x + 16 * j, L: L + 16 * j)
            if abs(scales[j]) > amax { amax = abs(scales[j]); maxScale = scales[j] }
        }
        let packed = (y + 96).assumingMemoryBound(to: UInt8.self)
        packed.initialize(repeating: 0, count: 12)
        if maxScale != 0 {
            let iscale = -32 / maxScale
            for j in 0..<16 {
                let l = UInt8(max(-32, min(31, nearestInt(iscale * scales[j]))) + 32)
                if j < 8 { packed[j] = l & 0xF } else { packed[j - 8] |= (l & 0xF) << 4 }
                packed[8 + j % 4] |= (l >> 4) << UInt8(2 * (j / 4))
            }
            writeF16(y, 108, 1 / iscale)
        } else {
            writeF16(y, 108, 0)
        }
        let d = readF16(y, 108)
        for j in 0..<16 {
            let dj = d * Float(scaleQ3K(j, packed) - 32)
            if dj == 0 { continue }
            for i in 0..<16 { L[16 * j + i] = Int8(max(-4, min(3, nearestInt(x[16 * j + i] / dj))) + 4) }
        }
        // The 3rd bit of element 32k + l is bit k of hmask[l]; the 2 low bits of elements l, l + 32,
        // l + 64, l + 96 of each 128 share qs byte l (of that half).
        let hmask = y.assumingMemoryBound(to: UInt8.self)
        hmask.initialize(repeating: 0, count: 32)
        for e in 0..<256 where L[e] > 3 {
            hmask[e % 32] |= UInt8(1) << UInt8(e / 32)
            L[e] -= 4
        }
        let qs = (y + 32).assumingMemoryBound(to: UInt8.self)
        let U = UnsafeRawPointer(L).assumingMemoryBound(to: UInt8.self)
        for half in 0..<2 {
            let j = 128 * half
            for l in 0..<32 {
                qs[32 * half + l] = U[j + l] | (U[j + l + 32] << 2) | (U[j + l + 64] << 4) | (U[j + l + 96] << 6)
            }
        }
    }
}

/// d = −max/127 by the signed largest value, q = nearest(x / d) ≤ 127, plus sums of each 16 quants.
@inline(__always) func quantizeBlockQ8_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer) {
    let m = signedAbsMax(x, 256)
    let qs = (y + 4).assumingMemoryBound(to: Int8.self)
    let bsums = (y + 260).assumingMemoryBound(to: Int16.self)
    // A NaN or infinite activation: a NaN scale, so the product is NaN and the logits' check reports it.
    let finite = activationScale(x, 256).isFinite
    if m == 0 || !finite {
        y.storeBytes(of: finite ? Float(0) : .nan, as: Float.self)
        for j in 0..<256 { qs[j] = 0 }
        for j in 0..<16 { bsums[j] = 0 }
        return
    }
    let iscale = -127 / m
    for j in 0..<256 { qs[j] = Int8(max(-128, min(127, nearestInt(iscale * x[j])))) }
    for j in 0..<16 {
        var sum = 0
        for i in 0..<16 { sum += Int(qs[16 * j + i]) }
        bsums[j] = Int16(sum)
    }
    y.storeBytes(of: 1 / iscale, as: Float.self)
}
