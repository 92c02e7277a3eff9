// Element-wise and row-wise operations of the decoder, forward direction. Shapes in comments are
// (rows, columns) of row-major buffers. The backward passes sit beside their forwards in
// Inference/Layers and call these for the forward half.
import Foundation

public enum Ops {
    /// LayerNorm over each row: out = (x - mean) / sqrt(var + eps) * weight + bias.
    /// x: (t, c), weight/bias: (c) -> out: (t, c). `out` may alias `x`.
    public static func layerNorm(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                 eps: Float, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<t { _ = layerNormRow(x + r * c, c: c, weight: weight, bias: bias, eps: eps, into: out + r * c) }
    }

    /// One row of layerNorm, returning the row's mean and 1/std (training's backward keeps them).
    @inline(__always)
    public static func layerNormRow(_ x: UnsafePointer<Float>, c: Int, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                    eps: Float, into out: UnsafeMutablePointer<Float>) -> (mean: Float, rstd: Float) {
        var mean: Float = 0
        for i in 0..<c { mean += x[i] }
        mean /= Float(c)
        var variance: Float = 0
        for i in 0..<c { let d = x[i] - mean; variance += d * d }
        variance /= Float(c)
        let rstd = 1 / (variance + eps).squareRoot()
        for i in 0..<c {
            var v = (x[i] - mean) * rstd
            if let weight { v *= weight[i] }
            if let bias { v += bias[i] }
            out[i] = v
        }
        return (mean, rstd)
    }

    /// RMSNorm over each row: out = x / sqrt(mean(x²) + eps) * weight. x: (t, c) -> out: (t, c).
    public static func rmsNorm(_ x: UnsafePointer<Float>, t: Int, c: Int, weight: UnsafePointer<Float>, eps: Float,
                               into out: UnsafeMutablePointer<Float>) {
        for r in 0..<t { _ = rmsNormRow(x + r * c, c: c, weight: weight, eps: eps, into: out + r * c) }
    }

    /// One row of rmsNorm, returning 1/√(mean(x²) + eps).
    @inline(__always)
    public static func rmsNormRow(_ x: UnsafePointer<Float>, c: Int, weight: UnsafePointer<Float>, eps: Float,
                                  into out: UnsafeMutablePointer<Float>) -> Float {
        var ss: Float = 0
        for i in 0..<c { ss += x[i] * x[i] }
        let scale = 1 / (ss / Float(c) + eps).squareRoot()
        for i in 0..<c { out[i] = x[i] * scale * weight[i] }
        return scale
    }

    /// In-place softmax of one row of n values.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, n: Int) {
        guard n > 0 else { return }
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var sum: Float = 0
        for i in 0..<n { let e = expf(x[i] - m); x[i] = e; sum += e }
        let inv = 1 / sum
        for i in 0..<n { x[i] *= inv }
    }

    /// log-softmax of one row into `out`. Returns log(sum(exp)) (the log-partition).
    @discardableResult
    public static func logSoftmax(_ x: UnsafePointer<Float>, n: Int, into out: UnsafeMutablePointer<Float>) -> Float {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var sum: Double = 0
        for i in 0..<n { sum += Double(expf(x[i] - m)) }
        let lse = m + Float(log(sum))
        for i in 0..<n { out[i] = x[i] - lse }
        return lse
    }

    @inline(__always) public static func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

    /// Exact GELU, as PyTorch's default: 0.5·x·(1 + erf(x/√2)).
    @inline(__always) public static func gelu(_ x: Float) -> Float { 0.5 * x * (1 + erff(x * 0.70710678118654752)) }

    /// GELU's tanh approximation ("gelu_new").
    @inline(__always) public static func geluTanh(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }

    /// Rotary position embedding applied in place to `heads` vectors of `headDim` at one position,
    /// rotating the first `rotaryDim` dimensions. `halves` pairs i with i + rotaryDim/2 (GPT-NeoX,
    /// HF rotate_half); `adjacent` pairs 2i with 2i+1 (ggml NORM mode). cos/sin: (rotaryDim/2).
    public static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, rotaryDim: Int,
                            cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, adjacentPairs: Bool) {
        let half = rotaryDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<half {
                let (a, b) = adjacentPairs ? (2 * i, 2 * i + 1) : (i, i + half)
                let x1 = v[a], x2 = v[b]
                v[a] = x1 * cos[i] - x2 * sin[i]
                v[b] = x2 * cos[i] + x1 * sin[i]
            }
        }
    }

    /// cos/sin tables for positions 0..<positions: (positions, rotaryDim/2), computed like HF
    /// (inv_freq in float32 from theta^(-2i/d), angle = pos · inv_freq in float32).
    public static func ropeTables(positions: Int, rotaryDim: Int, theta: Float) -> (cos: [Float], sin: [Float]) {
        let invFreq = (0..<rotaryDim / 2).map { i in 1 / Float(pow(Double(theta), Double(2 * i) / Double(rotaryDim))) }
        return ropeTables(positions: positions, inverseFrequencies: invFreq)
    }

    /// The same from given inverse frequencies (scaled RoPE): (positions, invFreq.count).
    public static func ropeTables(positions: Int, inverseFrequencies invFreq: [Float]) -> (cos: [Float], sin: [Float]) {
        let half = invFreq.count
        var cosT = [Float](repeating: 0, count: positions * half), sinT = cosT
        for p in 0..<positions {
            for i in 0..<half {
                let angle = Float(p) * invFreq[i]
                cosT[p * half + i] = cosf(angle)
                sinT[p * half + i] = sinf(angle)
            }
        }
        return (cosT, sinT)
    }
}
