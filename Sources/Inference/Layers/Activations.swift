// The MLP's element-wise middles: SiLU-gated (StableLM, Llama) and GELU (GPT-NeoX), forward and
// backward. The matrices around them are LinearLayer.
import Foundation
import Kernels

public enum GatedSiLU {
    /// gate, up: (n) -> out: (n) = silu(gate) · up. With out == up (inference keeps no up) the SIMD
    /// kernel of the same formula runs in place.
    public static func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, n: Int, into out: UnsafeMutablePointer<Float>) {
        if UnsafePointer(out) == up { return FastOps.siluMul(out, gate: gate, count: n) }
        Parallel.rows(n, minimum: 16384) { r in FastOps.siluMul(gate: gate + r.lowerBound, up: up + r.lowerBound, into: out + r.lowerBound, count: r.count) }
    }

    /// silu'(x) = σ(x)·(1 + x·(1 − σ(x))). dgate = dout·up·silu'(gate), dup = dout·silu(gate) (both overwritten).
    public static func backward(dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, n: Int,
                                dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>) {
        Parallel.rows(n, minimum: 16384) { r in
            let o = r.lowerBound
            FastOps.siluMulBackward(dout: dout + o, gate: gate + o, up: up + o, dgate: dgate + o, dup: dup + o, count: r.count)
        }
    }
}

public enum GELU {
    /// x: (n) -> out: (n); `tanh` picks the tanh approximation ("gelu_new"), else exact erf GELU.
    public static func forward(_ x: UnsafePointer<Float>, n: Int, tanh: Bool, into out: UnsafeMutablePointer<Float>) {
        Parallel.rows(n, minimum: 16384) { r in
            if tanh { for i in r { out[i] = Ops.geluTanh(x[i]) } } else { for i in r { out[i] = Ops.gelu(x[i]) } }
        }
    }

    /// dx = dout · gelu'(x) (overwritten). Exact: Φ(x) + x·φ(x). Tanh form: differentiate 0.5·x·(1 + tanh(u)).
    public static func backward(dout: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, tanh: Bool, dx: UnsafeMutablePointer<Float>) {
        Parallel.rows(n, minimum: 16384) { r in
            if tanh {
                let a: Float = 0.7978845608028654, b: Float = 0.044715
                for i in r {
                    let v = x[i], u = a * (v + b * v * v * v), th = tanhf(u)
                    let du = a * (1 + 3 * b * v * v)
                    dx[i] = dout[i] * (0.5 * (1 + th) + 0.5 * v * (1 - th * th) * du)
                }
            } else {
                for i in r {
                    let v = x[i]
                    let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
                    let pdf = expf(-0.5 * v * v) * 0.3989422804014327
                    dx[i] = dout[i] * (cdf + v * pdf)
                }
            }
        }
    }
}
