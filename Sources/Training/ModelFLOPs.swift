// Model FLOPs utilisation: the FLOPs a training step must do (forward + backward), per second, over
// the machine's arithmetic peak in the matmuls' precision (f32 FMA, or bf16 dot products), measured
// on the cores the run uses.
//   FLOPs per token = 6·N + 12·L·H·Q·T   (nanoGPT's estimate_mfu, llm.c's the same)
// N counts the weights used in matrix products — every layer matrix and the LM head; an untied input
// embedding is a lookup and costs nothing. The second term is attention's QKᵀ and AV, counted as if
// not causal (as nanoGPT does), for L layers, H heads of size Q and context T.
import Basics
import Foundation
import Checkpoints
import Kernels

public enum ModelFLOPs {
    /// Weights that take part in matrix products.
    public static func matmulParameters(_ c: ModelConfig) -> Int {
        c.parameterCount - (c.tieWordEmbeddings ? 0 : c.vocabSize * c.hiddenSize)
    }

    public static func perToken(_ c: ModelConfig, contextLength t: Int) -> Double {
        6 * Double(matmulParameters(c)) + 12 * Double(c.numLayers * c.numHeads * c.headDim * t)
    }

    /// The best sgemm rate (FLOP/s) over a few n×n×n products with BLAS's current thread count.
    public static func measureSgemmPeak(size n: Int = 1024, repeats: Int = 10) -> Double {
        let a = UnsafeMutablePointer<Float>.allocate(capacity: n * n), b = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: n * n)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var rng = SeededRandom(seed: 7)
        for i in 0..<(n * n) { a[i] = Float(rng.uniform() - 0.5); b[i] = Float(rng.uniform() - 0.5); c[i] = 0 }
        var best = Double.infinity
        for r in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            BLAS.gemm(transA: false, transB: false, m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: c, ldc: n)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if r > 0 { best = min(best, seconds) }   // the first warms caches and BLAS's threads
        }
        return 2 * Double(n) * Double(n) * Double(n) / best
    }

    /// The arithmetic peak (FLOP/s) of `threads` cores in `precision`: each thread runs the GEMM's
    /// peak loop (only multiply-adds on registers: 24 zmm FMAs, or vdpbf16ps for bf16) in 40 bursts of
    /// ~0.3 ms, timing them itself; the peak is the best burst of any thread times the threads. A burst that another process
    /// interrupts is slower and does not count, so the figure holds on a shared machine, where a 1024³
    /// sgemm measured a third of the peak.
    /// Without the AVX-512 kernels, the best sgemm rate stands in.
    public static func measureArithmeticPeak(threads: Int, precision: GEMMPrecision) -> Double {
        guard GEMM.isAvailable(precision) else {
            let saved = BLAS.threads
            BLAS.setThreads(threads)
            defer { BLAS.setThreads(saved) }
            return measureSgemmPeak()
        }
        return GEMMBenchmark.peak(bf16: precision == .bf16, threads: threads, iterations: 100_000, repeats: 40)
    }

    /// The peak as remembered in `file` (JSON: "host threads precision" → FLOP/s): the best of what
    /// was stored and a fresh measurement, written back.
    public static func rememberedPeak(file: String, threads: Int, precision: GEMMPrecision) -> Double {
        let key = "\(ProcessInfo.processInfo.hostName) \(threads) \(precision.rawValue)"
        var stored: [String: Double] = [:]
        if let data = FileManager.default.contents(atPath: file),
           let json = try? JSONSerialization.jsonObject(with: data) as? [String: Double] { stored = json }
        let best = max(stored[key] ?? 0, arithmeticPeak(threads: threads, precision: precision))
        if best != stored[key] {
            stored[key] = best
            if let data = try? JSONSerialization.data(withJSONObject: stored, options: [.prettyPrinted, .sortedKeys]) {
                try? data.write(to: URL(fileURLWithPath: file), options: .atomic)
            }
        }
        return best
    }

    /// Measured once per process for each thread count and precision.
    nonisolated(unsafe) private static var cachedPeaks: [String: Double] = [:]
    private static let lock = NSLock()

    public static func arithmeticPeak(threads: Int, precision: GEMMPrecision) -> Double {
        lock.lock(); defer { lock.unlock() }
        let key = "\(threads) \(precision.rawValue)"
        if let peak = cachedPeaks[key] { return peak }
        let peak = measureArithmeticPeak(threads: threads, precision: precision)
        cachedPeaks[key] = peak
        return peak
    }
}
