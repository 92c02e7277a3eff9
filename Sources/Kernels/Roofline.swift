// The machine's limits as hayai measures them, for `hayai bench`'s roofline columns: read
// bandwidth (a streaming read over 512 MiB, 16× the L3, split over the pool's threads; best of 8
// passes), sgemm throughput (single-threaded OpenBLAS calls side by side on the pool, the shape
// of a 512-token prompt through a 2048-wide layer; best of 5) and, where the CPU has AVX512-VNNI,
// the int8 multiply-add peak the interleaved quantized kernels run against. Each is measured once
// per process and thread count.
import Foundation
import CKernels

public enum Roofline {
    nonisolated(unsafe) private static var bandwidthCache: [Int: Double] = [:]
    nonisolated(unsafe) private static var sgemmCache: [Int: Double] = [:]
    private static let lock = NSLock()

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Bytes per second one streaming read reaches with `threads` threads.
    public static func readBandwidth(threads: Int) -> Double {
        lock.lock(); defer { lock.unlock() }
        if let b = bandwidthCache[threads] { return b }
        let bytes = 512 << 20
        // Huge pages, as the repacked weights get (AlignedBytes): with 4 KiB pages the same loop read ~15% less.
        let memory = AlignedBytes(count: bytes)
        let buffer = memory.pointer
        buffer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        let pool = ThreadPool(threads: threads, spinMicroseconds: 0)
        let pieces = 64, piece = bytes / pieces
        let sums = UnsafeMutablePointer<UInt64>.allocate(capacity: pieces)
        defer { sums.deallocate() }
        var best = Double.infinity
        for _ in 0..<8 {
            let t0 = now()
            pool.parallelFor(count: pieces) { i in sums[i] = hayai_stream_read(buffer + i * piece, piece) }
            best = min(best, now() - t0)
        }
        let bandwidth = Double(bytes) / best
        bandwidthCache[threads] = bandwidth
        return bandwidth
    }

    /// A read-bandwidth probe that keeps its buffer, for measuring between benchmark runs: on a
    /// shared machine the bandwidth left to this process changes from second to second, so a
    /// ratio to a probe taken next to each run says more than one to the best figure.
    public final class Probe {
        let bytes: Int
        let memory: AlignedBytes
        var buffer: UnsafeMutableRawPointer { memory.pointer }
        let pool: ThreadPool
        public init(threads: Int, megabytes: Int = 256) {
            bytes = megabytes << 20
            memory = AlignedBytes(count: bytes)
            memory.pointer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
            pool = ThreadPool(threads: threads, spinMicroseconds: 0)
        }

        /// Bytes per second of the faster of `passes` streaming reads.
        public func measure(passes: Int = 2) -> Double {
            let pieces = 64, piece = bytes / pieces, buffer = self.buffer
            var best = Double.infinity
            for _ in 0..<passes {
                let t0 = Roofline.now()
                pool.parallelFor(count: pieces) { i in _ = hayai_stream_read(buffer + i * piece, piece) }
                best = min(best, Roofline.now() - t0)
            }
            return Double(bytes) / best
        }
    }

    /// Float operations per second of sgemm (m = 512, n = k = 2048 per thread) run the way prompt
    /// processing runs it: `threads` single-threaded OpenBLAS calls side by side on the pool.
    public static func sgemmFLOPS(threads: Int) -> Double {
        lock.lock(); defer { lock.unlock() }
        if let f = sgemmCache[threads] { return f }
        let m = 512, n = 2048, k = 2048
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: n * k)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: threads * m * n)
        defer { c.deallocate() }
        let pool = ThreadPool(threads: threads, spinMicroseconds: 0)
        var best = Double.infinity
        BLAS.withSingleThread {
            for _ in 0..<5 {
                let t0 = now()
                pool.parallelFor(count: threads) { i in
                    BLAS.gemm(transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: c + i * m * n, ldc: n)
                }
                best = min(best, now() - t0)
            }
        }
        let flops = 2 * Double(threads) * Double(m) * Double(n) * Double(k) / best
        sgemmCache[threads] = flops
        return flops
    }

    nonisolated(unsafe) private static var int8Cache: [Int: Double] = [:]

    /// Int8 multiply-adds per second of 512-bit vpdpbusd with no memory traffic, on `threads`
    /// threads side by side (best of 5): the arithmetic ceiling of the interleaved quantized
    /// kernels (CKernels/quant_x16.c). Nil where the CPU has no AVX512-VNNI.
    public static func int8MACs(threads: Int) -> Double? {
        guard QuantizedMatrix.interleavingAvailable else { return nil }
        lock.lock(); defer { lock.unlock() }
        if let r = int8Cache[threads] { return r }
        let rate = measureInt8MACs(threads: threads, chains: int8PeakChains)
        int8Cache[threads] = rate
        return rate
    }

    /// Independent vpdpbusd chains a thread in the probe `int8MACs` measures: enough to issue at the full
    /// rate (8 were too few on Zen 5, see quant_x16.c).
    public static let int8PeakChains = 24

    /// The rate of `chains` (8 or 24) independent vpdpbusd chains a thread, measured now (no cache).
    public static func measureInt8MACs(threads: Int, chains: Int) -> Double {
        precondition(chains == 8 || chains == 24)
        let pool = ThreadPool(threads: threads, spinMicroseconds: 0)
        let iterations = 32_000_000 / chains
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = now()
            pool.parallelFor(count: threads) { _ in _ = hayai_x16_vnni_peak(Int32(chains), iterations) }
            best = min(best, now() - t0)
        }
        return Double(threads) * Double(iterations) * Double(chains) * 64 / best
    }
}
