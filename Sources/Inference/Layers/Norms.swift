// LayerNorm and RMSNorm over rows, forward and backward. The forwards keep each row's statistics
// (mean and 1/std) for the backward; their arithmetic is Ops.layerNorm's / Ops.rmsNorm's (the
// inference forward; one row function in Kernels), so both give the same numbers. Backward adds into
// dx, dweight, dbias (nil for a frozen weight).
import Kernels

public enum LayerNorm {
    /// One row. x: (c), weight/bias: (c) -> out: (c); returns (mean, rstd). `out` may alias `x`.
    @inline(__always)
    public static func forwardRow(_ x: UnsafePointer<Float>, c: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                  eps: Float, into out: UnsafeMutablePointer<Float>) -> (mean: Float, rstd: Float) {
        Ops.layerNormRow(x, c: c, weight: weight, bias: bias, eps: eps, into: out)
    }

    /// One row's backward: dx += ∂/∂x, dweight += dout·x̂, dbias += dout.
    /// With x̂ = (x − mean)·rstd and g = dout·w: dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)).
    @inline(__always)
    public static func backwardRow(dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: Float, rstd: Float, c: Int,
                                   weight: UnsafePointer<Float>?, dx: UnsafeMutablePointer<Float>,
                                   dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?) {
        var gMean: Float = 0, gxMean: Float = 0
        for i in 0..<c {
            let xhat = (x[i] - mean) * rstd
            let g = dout[i] * (weight?[i] ?? 1)
            gMean += g
            gxMean += g * xhat
        }
        gMean /= Float(c); gxMean /= Float(c)
        for i in 0..<c {
            let xhat = (x[i] - mean) * rstd
            let g = dout[i] * (weight?[i] ?? 1)
            dx[i] += rstd * (g - gMean - xhat * gxMean)
            dweight?[i] += dout[i] * xhat
            dbias?[i] += dout[i]
        }
    }

    /// x: (t, c), weight/bias: (c) -> out: (t, c), mean/rstd: (t)
    public static func forward(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                               eps: Float, into out: UnsafeMutablePointer<Float>,
                               mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        Parallel.rows(t, minimum: 8192 / max(c, 1)) { rows in
            for r in rows {
                let s = forwardRow(x + r * c, c: c, weight: weight, bias: bias, eps: eps, into: out + r * c)
                mean[r] = s.mean; rstd[r] = s.rstd
            }
        }
    }

    /// dout, x: (t, c), mean/rstd: (t) -> dx: (t, c) +=, dweight/dbias: (c) +=
    public static func backward(dout: UnsafePointer<Float>, x: UnsafePointer<Float>, mean: UnsafePointer<Float>,
                                rstd: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>?,
                                dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
                                dbias: UnsafeMutablePointer<Float>?) {
        for r in 0..<t {
            backwardRow(dout: dout + r * c, x: x + r * c, mean: mean[r], rstd: rstd[r], c: c, weight: weight,
                        dx: dx + r * c, dweight: dweight, dbias: dbias)
        }
    }
}

public enum RMSNorm {
    /// x: (t, c), weight: (c) -> out: (t, c) = x · rstd · weight, rstd: (t) = 1/√(mean(x²) + eps)
    public static func forward(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>, eps: Float,
                               into out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        for r in 0..<t { rstd[r] = Ops.rmsNormRow(x + r * c, c: c, weight: weight, eps: eps, into: out + r * c) }
    }

    /// With x̂ = x·rstd and g = dout·w: dx += rstd · (g − x̂ · mean(g·x̂)), dweight += dout·x̂.
    public static func backward(dout: UnsafePointer<Float>, x: UnsafePointer<Float>, rstd: UnsafePointer<Float>, t: Int, c: Int,
                                weight: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?) {
        for r in 0..<t {
            let row = x + r * c, d = dout + r * c, s = rstd[r]
            var gxMean: Float = 0
            for i in 0..<c { gxMean += d[i] * weight[i] * row[i] * s }
            gxMean /= Float(c)
            for i in 0..<c {
                let xhat = row[i] * s
                dx[r * c + i] += s * (d[i] * weight[i] - xhat * gxMean)
                dweight?[i] += d[i] * xhat
            }
        }
    }
}
