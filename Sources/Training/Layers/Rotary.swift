// Rotary position embedding on the first `rotaryDim` dimensions of each head, HF's rotate_half
// pairing (i with i + rotaryDim/2). The backward is the rotation by the opposite angle.
import Kernels

public enum Rotary {
    /// In place. x: (rows, heads·headDim), row r at position positions[r] (r % seqLen when nil);
    /// cos/sin: (positions, rotaryDim/2)
    public static func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, seqLen: Int, heads: Int, headDim: Int, rotaryDim: Int,
                               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, positions: UnsafePointer<Int32>? = nil) {
        guard rotaryDim > 0 else { return }
        let half = rotaryDim / 2, width = heads * headDim
        for r in 0..<rows {
            let p = positions.map { Int($0[r]) } ?? r % seqLen
            Ops.rope(x + r * width, heads: heads, headDim: headDim, rotaryDim: rotaryDim,
                     cos: cos + p * half, sin: sin + p * half, adjacentPairs: false)
        }
    }

    /// In place on the gradient: y_a = x_a·cos − x_b·sin, y_b = x_b·cos + x_a·sin, so
    /// dx_a = dy_a·cos + dy_b·sin and dx_b = dy_b·cos − dy_a·sin.
    public static func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, seqLen: Int, heads: Int, headDim: Int, rotaryDim: Int,
                                cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, positions: UnsafePointer<Int32>? = nil) {
        guard rotaryDim > 0 else { return }
        let half = rotaryDim / 2, width = heads * headDim
        for r in 0..<rows {
            let p = positions.map { Int($0[r]) } ?? r % seqLen, cr = cos + p * half, sr = sin + p * half
            for h in 0..<heads {
                let v = dx + r * width + h * headDim
                for i in 0..<half {
                    let ga = v[i], gb = v[i + half]
                    v[i] = ga * cr[i] + gb * sr[i]
                    v[i + half] = gb * cr[i] - ga * sr[i]
                }
            }
        }
    }
}
