// A linear layer y = x·Wᵀ + b (PyTorch's convention, W: (out, in)), forward and backward through BLAS.
import Kernels

public enum LinearLayer {
    /// x: (t, in), w: (out, in), b: (out) -> y: (t, out)
    public static func forward(_ x: UnsafePointer<Float>, t: Int, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: false, transB: true, m: t, n: outFeatures, k: inFeatures, a: x, lda: inFeatures,
                  b: weight, ldb: inFeatures, c: y, ldc: outFeatures)
        if let bias {
            for r in 0..<t { let row = y + r * outFeatures; for i in 0..<outFeatures { row[i] += bias[i] } }
        }
    }

    /// dy: (t, out), x: (t, in), w: (out, in) -> dx: (t, in) += dy·W, dw: (out, in) += dyᵀ·x, db: (out) += Σ_t dy
    /// `dx` may be nil when the input needs no gradient.
    public static func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, t: Int, weight: UnsafePointer<Float>,
                                inFeatures: Int, outFeatures: Int, dx: UnsafeMutablePointer<Float>?,
                                dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?) {
        if let dx { backwardInput(dy: dy, t: t, weight: weight, inFeatures: inFeatures, outFeatures: outFeatures, dx: dx) }
        backwardWeight(dy: dy, x: x, t: t, inFeatures: inFeatures, outFeatures: outFeatures, dweight: dweight, dbias: dbias)
    }

    /// The input half of the backward: dx (t, in) += dy (t, out) · W (out, in).
    public static func backwardInput(dy: UnsafePointer<Float>, t: Int, weight: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
                                     dx: UnsafeMutablePointer<Float>) {
        BLAS.gemm(transA: false, transB: false, m: t, n: inFeatures, k: outFeatures, a: dy, lda: outFeatures,
                  b: weight, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
    }

    /// The weight half: dw (out, in) += dyᵀ · x, db (out) += Σ_t dy.
    public static func backwardWeight(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, t: Int, inFeatures: Int, outFeatures: Int,
                                      dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?) {
        BLAS.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: t, a: dy, lda: outFeatures,
                  b: x, ldb: inFeatures, beta: 1, c: dweight, ldc: inFeatures)
        if let dbias {
            for r in 0..<t { let row = dy + r * outFeatures; for i in 0..<outFeatures { dbias[i] += row[i] } }
        }
    }
}
