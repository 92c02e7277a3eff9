// `hayai bench --gemm`: GFLOP/s of hayai's f32 and bf16 GEMM and of OpenBLAS's sgemm on the shapes
// training multiplies, against the f32 FMA and bf16 vdpbf16ps peaks measured on the same threads.
// The three kernels alternate within each repetition, so a change in the machine's load (it is shared)
// falls on all of them alike; each timing repeats the call until 30 ms have passed. Beside wall-clock GFLOP/s
// it reports GFLOP per second of the process's CPU time: on a machine whose cores other work shares, that
// still says how fast a kernel is while it runs (waiting and spinning threads count against it).
import Foundation
import CKernels

public enum GEMMBenchmark {
    public struct Shape: Sendable, Equatable {
        public var name: String, transA: Bool, transB: Bool, m: Int, n: Int, k: Int
        public init(_ name: String, transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int) {
            (self.name, self.transA, self.transB, self.m, self.n, self.k) = (name, transA, transB, m, n, k)
        }
        public var layout: String { (transA ? "T" : "N") + (transB ? "T" : "N") }
        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    }

    /// Training's products, (m, n, k) as BLAS.gemm sees them: a forward y = x·Wᵀ is NT (tokens, out, in),
    /// the input gradient dx = dy·W is NN (tokens, in, out), the weight gradient dW = dyᵀ·x is TN (out, in, tokens).
    /// tiny (hidden 96, MLP 256) and small (256, 704) at 4096 tokens (batch × context), SmolLM2-135M
    /// (576, 1536) at 2048, its 49152-entry LM head at 512, and one attention head (T 256, D 32).
    public static let trainingShapes: [Shape] = [
        Shape("tiny q/o x·Wᵀ", transB: true, m: 4096, n: 96, k: 96),
        Shape("tiny up x·Wᵀ", transB: true, m: 4096, n: 256, k: 96),
        Shape("tiny down dW", transA: true, m: 96, n: 256, k: 4096),
        Shape("small q/o x·Wᵀ", transB: true, m: 4096, n: 256, k: 256),
        Shape("small up x·Wᵀ", transB: true, m: 4096, n: 704, k: 256),
        Shape("small up dx", m: 4096, n: 256, k: 704),
        Shape("small up dW", transA: true, m: 704, n: 256, k: 4096),
        Shape("small head x·Wᵀ", transB: true, m: 4096, n: 8000, k: 256),
        Shape("135M up x·Wᵀ", transB: true, m: 2048, n: 1536, k: 576),
        Shape("135M up dx", m: 2048, n: 576, k: 1536),
        Shape("135M up dW", transA: true, m: 1536, n: 576, k: 2048),
        Shape("135M head x·Wᵀ", transB: true, m: 512, n: 49152, k: 576),
        Shape("head S = Q·Kᵀ", transB: true, m: 256, n: 256, k: 32),
        Shape("head O = P·V", m: 256, n: 32, k: 256),
    ]

    public enum Kernel: String, CaseIterable, Sendable { case hayaiF32 = "hayai-f32", hayaiBF16 = "hayai-bf16", openBLAS = "OpenBLAS" }

    public struct Result: Sendable {
        public var shape: Shape, threads: Int, kernel: Kernel
        /// Median GFLOP/s over the repetitions.
        public var gflops: Double
        /// gflops ÷ the measured peak of the kernel's arithmetic (f32 FMA for f32 and OpenBLAS, vdpbf16ps for bf16).
        public var shareOfPeak: Double
        /// Median GFLOP per second of CPU time the process used (all threads).
        public var gflopsPerCPUSecond: Double
    }

    /// Flops per second of `threads` threads each running the peak loop `iterations` times (~13 ms
    /// for the default), `repeats` times together: the best burst of any thread, times the threads (the cores
    /// are alike). Each thread times its own bursts, so waking the pool's threads is not counted, and a burst
    /// that another process interrupts (on a shared machine most are, on some core) does not lower the figure.
    public static func peak(bf16: Bool, threads: Int, iterations: Int = 2_000_000, repeats: Int = 5) -> Double {
        let pool = ThreadPool(threads: threads, spinMicroseconds: 0)
        let best = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
        defer { best.deallocate() }
        best.initialize(repeating: .infinity)
        for _ in 0..<repeats {
            pool.parallelFor(count: threads) { i in
                let t0 = Roofline.now()
                _ = hayai_gemm_peak(bf16 ? 1 : 0, iterations)
                best[i] = min(best[i], Roofline.now() - t0)
            }
        }
        return Double(threads) * Double(iterations) * 24 * (bf16 ? 64 : 32) / best.min()!
    }

    /// How `peak` measures, for reports that quote it.
    public static func peakMethod(iterations: Int, repeats: Int) -> String {
        "each thread runs \(repeats) bursts of \(iterations) × 24 independent zmm multiply-adds on registers "
            + "(vfmadd231ps, 32 FLOP each; vdpbf16ps 64) and times them itself; the best burst of any thread, times the threads"
    }

    /// Measures every shape on every thread count with the kernels this CPU has (OpenBLAS always).
    public static func measure(shapes: [Shape] = trainingShapes, threads: [Int], repetitions: Int,
                               progress: (String) -> Void = { _ in }) -> [Result] {
        let kernels = Kernel.allCases.filter { $0 == .openBLAS || GEMM.isAvailable($0 == .hayaiBF16 ? .bf16 : .f32) }
        var results: [Result] = []
        let savedThreads = BLAS.threads
        defer { BLAS.setThreads(savedThreads) }
        for t in threads {
            let peaks = (f32: peak(bf16: false, threads: t), bf16: GEMM.isAvailable(.bf16) ? peak(bf16: true, threads: t) : 0)
            progress(String(format: "peaks on %d thread(s): f32 %.0f, bf16 %.0f GFLOP/s", t, peaks.f32 / 1e9, peaks.bf16 / 1e9))
            let pool = ThreadPool(threads: t)
            progress(String(format: "pool sync on %d thread(s): %.1f µs per parallelFor beyond its work split evenly (%d × 5 µs bodies, median of 5 × 500)",
                            t, syncMicroseconds(pool), 4 * t))
            BLAS.setThreads(t)
            for shape in shapes {
                let (aCount, bCount) = (shape.m * shape.k, shape.k * shape.n)
                let a = (0..<aCount).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 }
                let b = (0..<bCount).map { Float(($0 * 104_729) % 1000) / 1000 - 0.5 }
                var c = [Float](repeating: 0, count: shape.m * shape.n)
                var samples: [Kernel: [Double]] = [:], cpuSamples: [Kernel: [Double]] = [:]
                for rep in 0...repetitions {
                    for kernel in kernels {
                        let (seconds, cpuSeconds) = c.withUnsafeMutableBufferPointer { c in
                            time { call(kernel, shape, a, b, c.baseAddress!, pool) }
                        }
                        if rep > 0 {   // rep 0 warms up
                            samples[kernel, default: []].append(shape.flops / seconds / 1e9)
                            cpuSamples[kernel, default: []].append(shape.flops / cpuSeconds / 1e9)
                        }
                    }
                }
                for kernel in kernels {
                    let median = { (x: [Double]) in x.sorted()[x.count / 2] }
                    let gflops = median(samples[kernel]!), peak = kernel == .hayaiBF16 ? peaks.bf16 : peaks.f32
                    results.append(Result(shape: shape, threads: t, kernel: kernel, gflops: gflops, shareOfPeak: gflops * 1e9 / peak,
                                          gflopsPerCPUSecond: median(cpuSamples[kernel]!)))
                }
                progress("\(shape.name) t=\(t): " + kernels.map { k in String(format: "%@ %.1f", k.rawValue, results.last { $0.kernel == k }!.gflops) }
                    .joined(separator: ", "))
            }
        }
        return results
    }

    /// What one `parallelFor` costs on `pool` beyond its work split evenly (the GEMM runs two per packed block of
    /// B): 4 bodies per thread that each busy-wait 5 µs, against the same bodies run inline ÷ the threads.
    public static func syncMicroseconds(_ pool: ThreadPool) -> Double {
        let count = pool.threads * 4
        let body: (Int) -> Void = { _ in
            let start = Roofline.now()
            while Roofline.now() - start < 5e-6 {}
        }
        func perCall(_ run: () -> Void) -> Double {
            let rounds = (0..<5).map { _ in
                let t0 = Roofline.now()
                for _ in 0..<500 { run() }
                return (Roofline.now() - t0) / 500 * 1e6
            }
            return rounds.sorted()[2]
        }
        let inline = perCall { for i in 0..<count { body(i) } }
        return perCall { pool.parallelFor(count: count, body: body) } - inline / Double(pool.threads)
    }

    /// Wall-clock and process CPU seconds per call: the mean over as many calls as fill 30 ms (at least one).
    private static func time(_ body: () -> Void) -> (wall: Double, cpu: Double) {
        let t0 = Roofline.now(), c0 = cpuSeconds()
        var calls = 0
        repeat { body(); calls += 1 } while Roofline.now() - t0 < 0.03
        return ((Roofline.now() - t0) / Double(calls), max(cpuSeconds() - c0, 1e-9) / Double(calls))
    }

    private static func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func call(_ kernel: Kernel, _ s: Shape, _ a: [Float], _ b: [Float], _ c: UnsafeMutablePointer<Float>, _ pool: ThreadPool) {
        let lda = s.transA ? s.m : s.k, ldb = s.transB ? s.k : s.n
        switch kernel {
        case .openBLAS:
            BLAS.openBLASGemm(transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: s.n)
        case .hayaiF32, .hayaiBF16:
            GEMM.run(precision: kernel == .hayaiBF16 ? .bf16 : .f32, transA: s.transA, transB: s.transB, m: s.m, n: s.n, k: s.k,
                     a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: s.n, pool: pool.threads > 1 ? pool : nil)
        }
    }
}
