// Helpers shared by the K-quant reference code, transcribed from ggml-quants.c so that our
// quantizers choose the same scales and codes as llama.cpp's `quantize_row_*_ref`.
// Float arithmetic keeps ggml's operation order (Swift does not contract a*b+c into FMA), which is
// as close as one can get: a C compiler that contracts may itself differ in the last bit.

/// Elements in a K-quant super-block (ggml's QK_K).
public let superBlockSize = 256

/// Round to nearest, ties to even, via ggml's float trick (valid for |x| < 2^22).
@inline(__always) func nearestInt(_ x: Float) -> Int {
    let v = x + 12582912
    return Int(Int32(bitPattern: v.bitPattern & 0x007fffff)) - 0x00400000
}

@inline(__always) func writeF16(_ p: UnsafeMutableRawPointer, _ offset: Int, _ value: Float) {
    p.storeBytes(of: Float16(value).bitPattern, toByteOffset: offset, as: UInt16.self)
}

/// Scale and min of sub-block `j` (0..<8) from the 12 packed 6-bit values of Q4_K/Q5_K (`get_scale_min_k4`).
@inline(__always) func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
    if j < 4 {
        return (q[j] & 63, q[j + 4] & 63)
    }
    return ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
}

/// Six-bit scale of sub-block `j` (0..<16) from Q3_K's 12 packed bytes, before its offset of 32: the low
/// nibbles of bytes 0..7 are scales 0..7, their high nibbles scales 8..15, and bits 2(j/4), 2(j/4)+1 of
/// byte 8 + j%4 are the top two bits.
@inline(__always) func scaleQ3K(_ j: Int, _ q: UnsafePointer<UInt8>) -> Int {
    let low = j < 8 ? q[j] & 0xF : q[j - 8] >> 4
    return Int(low | (((q[8 + j % 4] >> UInt8(2 * (j / 4))) & 3) << 4))
}

/// Packs 8 six-bit scales and mins into Q4_K/Q5_K's 12 bytes (the inverse of `scaleMinK4`).
func packScalesK4(_ ls: [UInt8], _ lm: [UInt8], into q: UnsafeMutablePointer<UInt8>) {
    for j in 0..<8 {
        if j < 4 {
            q[j] = ls[j]
            q[j + 4] = lm[j]
        } else {
            q[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4)
            q[j - 4] |= (ls[j] >> 4) << 6
            q[j] |= (lm[j] >> 4) << 6
        }
    }
}

/// ggml's `make_qkx2_quants`: codes L in 0...nmax with x ≈ scale·L − min, searching scales around
/// nmax / (max − min) and refitting scale and min by weighted least squares.
/// Returns (scale, min) with min ≥ 0 meaning x ≈ scale·L − min.
func makeQKX2Quants(n: Int, nmax: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
                    L: UnsafeMutablePointer<UInt8>, Laux: UnsafeMutablePointer<UInt8>,
                    rmin: Float, rdelta: Float, nstep: Int, useMad: Bool) -> (scale: Float, min: Float) {
    var minV = x[0], maxV = x[0]
    var sumW = weights[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
        if x[i] < minV { minV = x[i] }
        if x[i] > maxV { maxV = x[i] }
        let w = weights[i]
        sumW += w
        sumX += w * x[i]
    }
    if minV > 0 { minV = 0 }
    if maxV == minV {
        for i in 0..<n { L[i] = 0 }
        return (0, -minV)
    }
    var iscale = Float(nmax) / (maxV - minV)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        let l = nearestInt(iscale * (x[i] - minV))
        L[i] = UInt8(max(0, min(nmax, l)))
        var diff = scale * Float(L[i]) + minV - x[i]
        diff = useMad ? abs(diff) : diff * diff
        bestError += weights[i] * diff
    }
    if nstep < 1 { return (scale, -minV) }
    for step in 0...nstep {
        iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (maxV - minV)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = max(0, min(nmax, nearestInt(iscale * (x[i] - minV))))
            Laux[i] = UInt8(l)
            let w = weights[i]
            let lf = Float(l)
            sumL += w * lf
            sumL2 += w * lf * lf
            sumXL += w * lf * x[i]
        }
        let D = sumW * sumL2 - sumL * sumL
        if D > 0 {
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var curError: Float = 0
            for i in 0..<n {
                var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                diff = useMad ? abs(diff) : diff * diff
                curError += weights[i] * diff
            }
            if curError < bestError {
                for i in 0..<n { L[i] = Laux[i] }
                bestError = curError
                scale = thisScale
                minV = thisMin
            }
        }
    }
    return (scale, -minV)
}

/// The value of largest magnitude among x[0..<n] (the first of equals), nil when every magnitude is
/// below ggml's GROUP_MAX_EPS (1e-15): such a group quantizes to zeros.
private func signedLargest(_ n: Int, _ x: UnsafePointer<Float>) -> Float? {
    var maxV: Float = 0, amax: Float = 0
    for i in 0..<n {
        let ax = abs(x[i])
        if ax > amax { amax = ax; maxV = x[i] }
    }
    return amax < 1e-15 ? nil : maxV
}

/// ggml's `make_qx_quants` with rmse_type 1 and no importance weights (what `quantize_row_q6_K_ref`
/// uses): symmetric codes L in 0..<2·nmax standing for L − nmax, weighted by x², trying 18 scales.
func makeQXQuants(n: Int, nmax: Int, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>) -> Float {
    guard let maxV = signedLargest(n, x) else {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    @inline(__always) func code(_ iscale: Float, _ v: Float) -> Int { max(-nmax, min(nmax - 1, nearestInt(iscale * v))) }
    var iscale = Float(-nmax) / maxV
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = code(iscale, x[i])
        L[i] = Int8(l + nmax)
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
        iscale = -(Float(nmax) + 0.1 * Float(step)) / maxV
        sumLX = 0; sumL2 = 0
        for i in 0..<n {
            let l = code(iscale, x[i])
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l)
            sumL2 += w * Float(l) * Float(l)
        }
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            for i in 0..<n { L[i] = Int8(nmax + code(iscale, x[i])) }
            scale = sumLX / sumL2
            best = scale * sumLX
        }
    }
    return scale
}

/// ggml's `make_q3_quants` with do_rmse (what `quantize_row_q3_K_ref` uses): symmetric codes L in
/// 0..<2·nmax standing for L − nmax, started at the scale −nmax / (the signed largest value), then
/// up to 5 rounds that move single codes where that raises (Σ w·x·l)² / Σ w·l² (w = x²).
func makeQ3Quants(n: Int, nmax: Int, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>) -> Float {
    guard let maxV = signedLargest(n, x) else {
        for i in 0..<n { L[i] = 0 }
        return 0
    }
    let iscale = Float(-nmax) / maxV
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
        let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
        L[i] = Int8(l)
        let w = x[i] * x[i]
        sumLX += w * x[i] * Float(l)
        sumL2 += w * Float(l) * Float(l)
    }
    for _ in 0..<5 {
        var changed = 0
        for i in 0..<n {
            let w = x[i] * x[i]
            var slx = sumLX - w * x[i] * Float(L[i])
            if slx > 0 {
                var sl2 = sumL2 - w * Float(L[i]) * Float(L[i])
                let newL = max(-nmax, min(nmax - 1, nearestInt(x[i] * sl2 / slx)))
                if newL != Int(L[i]) {
                    slx += w * x[i] * Float(newL)
                    sl2 += w * Float(newL) * Float(newL)
                    if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                        L[i] = Int8(newL); sumLX = slx; sumL2 = sl2
                        changed += 1
                    }
                }
            }
        }
        if changed == 0 { break }
    }
    for i in 0..<n { L[i] += Int8(nmax) }
    return sumLX / sumL2
}
