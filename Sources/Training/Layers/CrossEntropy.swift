// Cross-entropy of next-token logits against target ids, with ignored rows (target < 0, i.e. HF's
// -100). The forward returns the summed loss and the number of targets; the caller divides, so
// micro-batches can share one denominator. The backward turns the logits into their gradient in
// place: dlogits = (softmax(logits) − onehot(target)) · scale, zero on ignored rows.
import Inference
import Foundation
import Kernels

public enum CrossEntropy {
    /// logits: (n, vocab), targets: (n) -> lse: (n) (log-sum-exp per row); returns (Σ loss, target count)
    public static func forward(logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, n: Int, vocab: Int,
                               lse: UnsafeMutablePointer<Float>) -> (sum: Double, count: Int) {
        var partial: (Double, Double) = (0, 0)   // one sum per thread, no allocation
        withUnsafeMutableBytes(of: &partial) { raw in
            let part = raw.baseAddress!.assumingMemoryBound(to: Double.self)
            Parallel.rows(n, minimum: max(2, 32768 / max(vocab, 1))) { rows in
                var sum: Double = 0
                for r in rows {
                    let row = logits + r * vocab
                    let l = FastOps.logSumExp(row, n: vocab)
                    lse[r] = l
                    let target = Int(targets[r])
                    if target >= 0 { sum += Double(l) - Double(row[target]) }
                }
                part[rows.lowerBound == 0 ? 0 : 1] += sum
            }
        }
        var count = 0
        for r in 0..<n where targets[r] >= 0 { count += 1 }
        return (partial.0 + partial.1, count)
    }

    /// In place: logits (n, vocab) -> dlogits (n, vocab), using the forward's lse.
    public static func backward(logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, lse: UnsafePointer<Float>,
                                n: Int, vocab: Int, scale: Float) {
        Parallel.rows(n, minimum: max(2, 32768 / max(vocab, 1))) { rows in
            for r in rows {
                let row = logits + r * vocab
                let target = Int(targets[r])
                guard target >= 0 else { row.update(repeating: 0, count: vocab); continue }
                FastOps.softmax(row, n: vocab, logSumExp: lse[r], scale: scale)
                row[target] -= scale
            }
        }
    }
}
