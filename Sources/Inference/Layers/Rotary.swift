// Rotary position embedding on the first `rotaryDim` dimensions of each head, in either pairing
// (RopeStyle: HF's rotate_half pairs i with i + rotaryDim/2, ggml's NORM mode pairs 2i with 2i+1).
// The backward is the rotation by the opposite angle.
import Checkpoints
import Kernels
import CKernels

/// Where each row of a batch sits in its sequence.
public enum RowPositions {
    /// Row r at position start + r (one sequence after a KV cache of `start` positions).
    case consecutive(from: Int)
    /// Rows of sequences of seqLen, row r at r % seqLen, or at packed[r] (its position in its document).
    case perSequence(seqLen: Int, packed: UnsafePointer<Int32>?)
    /// Row r at listed[r]: rows of several sequences packed after one KV cache (PackedRows).
    case listed(UnsafePointer<Int32>)

    /// The positions of rows `first`, `first + 1`, ... (a piece of the batch as a batch of its own);
    /// nil for sequences of seqLen without packed positions when `first` is not a sequence's start.
    public func offset(by first: Int) -> RowPositions? {
        switch self {
        case .consecutive(let start): return .consecutive(from: start + first)
        case .perSequence(let seqLen, let packed):
            if let packed { return .perSequence(seqLen: seqLen, packed: packed + first) }
            return first % seqLen == 0 ? self : nil
        case .listed(let positions): return .listed(positions + first)
        }
    }

    @inline(__always) public func callAsFunction(_ r: Int) -> Int {
        switch self {
        case .consecutive(let start): return start + r
        case .perSequence(let seqLen, let packed): return packed.map { Int($0[r]) } ?? r % seqLen
        case .listed(let positions): return Int(positions[r])
        }
    }
}

public enum Rotary {
    /// In place. x: (rows, heads·headDim); cos/sin: (positions, rotaryDim/2)
    public static func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int, rotaryDim: Int, pairing: RopeStyle,
                               cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, positions: RowPositions) {
        guard rotaryDim > 0 else { return }
        let half = rotaryDim / 2, width = heads * headDim
        // CKernels' row kernel: Ops.rope's arithmetic (and bits), 16 lanes at a time where the CPU has AVX-512.
        let adjacent: Int32 = pairing == .adjacent ? 1 : 0
        for r in 0..<rows {
            let p = positions(r)
            hayai_rope_row(x + r * width, Int32(heads), Int32(headDim), Int32(rotaryDim), cos + p * half, sin + p * half, adjacent)
        }
    }

    /// In place on the gradient: y_a = x_a·cos − x_b·sin, y_b = x_b·cos + x_a·sin, so
    /// dx_a = dy_a·cos + dy_b·sin and dx_b = dy_b·cos − dy_a·sin.
    public static func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, headDim: Int, rotaryDim: Int, pairing: RopeStyle,
                                cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, positions: RowPositions) {
        guard rotaryDim > 0 else { return }
        let half = rotaryDim / 2, width = heads * headDim, adjacent = pairing == .adjacent
        for r in 0..<rows {
            let p = positions(r), cr = cos + p * half, sr = sin + p * half
            for h in 0..<heads {
                let v = dx + r * width + h * headDim
                for i in 0..<half {
                    let (a, b) = adjacent ? (2 * i, 2 * i + 1) : (i, i + half)
                    let ga = v[a], gb = v[b]
                    v[a] = ga * cr[i] + gb * sr[i]
                    v[b] = gb * cr[i] - ga * sr[i]
                }
            }
        }
    }
}
