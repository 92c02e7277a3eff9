// hayai's own GEMM (CKernels/gemm.c): C = alpha·op(A)·op(B) + beta·C, row-major, in f32 or with A and B
// rounded to bf16 (f32 accumulate), split over a ThreadPool instead of OpenBLAS's threads. BLAS.gemm
// chooses it or OpenBLAS per shape and precision (BLAS.swift); `reference` is the scalar definition the
// tests hold it to.
//
// Blocking (gemm.c has the packed layouts): for each block of ≤ 512 columns of C and each block of ≤ KC
// of k, the pool packs op(B)'s block into 32-column panels (one index per panel), then runs row tasks of
// a few 12-row micro-panels each (one index per task); every task packs its own A micro-panels on the stack.
// The blocks are split evenly (k = 576 → 2 × 288, not 512 + 64), and every element of C adds its k in the
// same order however the tasks are shared out, so the same call gives the same bits on 1 or 2 threads.
// A deep product with a small C (weight gradients: k = B·T tokens) is first split into 4 segments of k
// (depthSegments, by shape only), each run whole on one thread and added to C in segment order.
import Foundation
import CKernels

/// The arithmetic of the training matmuls: f32 throughout, or A and B rounded to bf16 (round to nearest
/// even) with f32 products and sums (AVX512-BF16's vdpbf16ps): twice the f32 peak on Zen 4/5.
public enum GEMMPrecision: String, CaseIterable, Sendable, Codable {
    case f32, bf16

    /// A user's `--precision`: f32 or bf16, else a one-line error saying which values there are.
    public init(parsing text: String) throws {
        guard let value = GEMMPrecision(rawValue: text) else { throw UnknownPrecision(given: text) }
        self = value
    }

    /// Thrown for a precision that is neither f32 nor bf16.
    public struct UnknownPrecision: Error, CustomStringConvertible {
        public let given: String
        public var description: String { "unknown --precision '\(given)' (use f32 or bf16)" }
    }
}

public enum GEMM {
    static let mr = Int(HAYAI_GEMM_MR), nr = Int(HAYAI_GEMM_NR)
    static let maxColumns = 512
    static func maxDepth(_ precision: GEMMPrecision) -> Int { precision == .bf16 ? Int(HAYAI_GEMM_KC_BF16) : Int(HAYAI_GEMM_KC_F32) }
    /// Bytes of one packed B block at the largest sizes: 16 panels × 256 k (f32) or 256 k pairs (bf16) × 32 × 4.
    static let packedBytes = (maxColumns / 32) * 256 * 32 * 4

    /// Whether this CPU runs hayai's kernel in `precision` (AVX512 F/BW/VL; bf16 also needs AVX512-BF16).
    public static func isAvailable(_ precision: GEMMPrecision) -> Bool {
        precision == .bf16 ? bf16Available : f32Available
    }
    private static let f32Available = hayai_gemm_available(0) != 0
    private static let bf16Available = hayai_gemm_available(1) != 0

    /// C (m, n) = alpha · op(A) · op(B) + beta · C with hayai's kernel (the CPU must have it: `isAvailable`).
    /// op(A) is (m, k): A itself (lda ≥ k) or, with transA, Aᵀ of A (k, m) (lda ≥ m); op(B) is (k, n) likewise.
    /// beta 0 writes C without reading it. `pool` nil runs on the calling thread.
    public static func run(precision: GEMMPrecision, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, pool: ThreadPool?) {
        run(precision: precision, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
            beta: beta, c: c, ldc: ldc, pool: pool, splitsDepth: true)
    }

    /// How many segments of k a product is split into (1: none): a deep product with a small C (a weight gradient,
    /// out × in over B·T tokens) has few row tasks per packed block and two pool round trips per block of k, so its
    /// segments run whole on one thread each, into C and into scratch added after in order. Shape only.
    static func depthSegments(precision: GEMMPrecision, m: Int, n: Int, k: Int) -> Int {
        let kBlocks = (k + maxDepth(precision) - 1) / maxDepth(precision)
        guard kBlocks >= 8, m * n <= 1 << 20 else { return 1 }
        return 4
    }

    private static func run(precision: GEMMPrecision, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, pool: ThreadPool?, splitsDepth: Bool) {
        precondition(isAvailable(precision), "GEMM.run needs AVX512\(precision == .bf16 ? "-BF16" : "")")
        guard m > 0, n > 0 else { return }
        if k == 0 || alpha == 0 {
            for i in 0..<m {
                let row = c + i * ldc
                for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
            }
            return
        }
        let segments = splitsDepth ? depthSegments(precision: precision, m: m, n: n, k: k) : 1
        if segments > 1 {
            // Segment s takes k in [s·k/S, (s+1)·k/S) rounded to even; segment 0 writes C (with beta), the others
            // scratch, added to C in segment order: the same sums whichever thread runs which segment.
            let buffer = SpareBuffers.segments.take(bytes: (segments - 1) * m * n * MemoryLayout<Float>.stride)
            defer { SpareBuffers.segments.give(buffer) }
            let scratch = buffer.pointer.assumingMemoryBound(to: Float.self)
            func bound(_ s: Int) -> Int { s == segments ? k : (s * k / segments) / 2 * 2 }
            let body = { (s: Int) in
                let p0 = bound(s), depth = bound(s + 1) - p0
                let aAt = transA ? a + p0 * lda : a + p0, bAt = transB ? b + p0 : b + p0 * ldb
                run(precision: precision, transA: transA, transB: transB, m: m, n: n, k: depth, alpha: alpha, a: aAt, lda: lda, b: bAt,
                    ldb: ldb, beta: s == 0 ? beta : 0, c: s == 0 ? c : scratch + (s - 1) * m * n, ldc: s == 0 ? ldc : n,
                    pool: nil, splitsDepth: false)
            }
            if let pool { pool.parallelFor(count: segments, body: body) } else { for s in 0..<segments { body(s) } }
            for s in 1..<segments {
                let partial = scratch + (s - 1) * m * n
                for i in 0..<m { hayai_add(c + i * ldc, partial + i * n, n) }
            }
            return
        }
        let bf16: Int32 = precision == .bf16 ? 1 : 0
        let kBlocks = (k + maxDepth(precision) - 1) / maxDepth(precision)
        let kc = (((k + kBlocks - 1) / kBlocks) + 1) / 2 * 2
        let nBlocks = (n + maxColumns - 1) / maxColumns
        let nc = ((n + nBlocks - 1) / nBlocks + nr - 1) / nr * nr
        let rowPanels = (m + mr - 1) / mr
        let threads = pool?.threads ?? 1
        let panelsPerTask = max(1, min(8, rowPanels / (3 * threads)))
        let rowsPerTask = panelsPerTask * mr
        let tasks = (m + rowsPerTask - 1) / rowsPerTask
        let buffer = SpareBuffers.packs.take(bytes: GEMM.packedBytes), packed = buffer.pointer
        defer { SpareBuffers.packs.give(buffer) }
        func parallel(_ count: Int, _ body: (Int) -> Void) {
            if let pool { pool.parallelFor(count: count, body: body) } else { for i in 0..<count { body(i) } }
        }
        for j0 in stride(from: 0, to: n, by: nc) {
            let width = min(nc, n - j0)
            for p0 in stride(from: 0, to: k, by: kc) {
                let depth = min(kc, k - p0)
                parallel((width + nr - 1) / nr) { t in
                    hayai_gemm_pack_b(bf16, transB ? 1 : 0, b, ldb, Int32(p0), Int32(depth), Int32(j0), Int32(width),
                                      Int32(t), Int32(t + 1), packed)
                }
                let blockBeta = p0 == 0 ? beta : 1
                parallel(tasks) { task in
                    let i0 = task * rowsPerTask
                    hayai_gemm_rows(bf16, transA ? 1 : 0, a, lda, Int32(i0), Int32(min(rowsPerTask, m - i0)), Int32(p0), Int32(depth),
                                    packed, Int32(width), alpha, blockBeta, c + j0, ldc)
                }
            }
        }
    }

    /// The scalar definition: each product in Double over op(A) and op(B) as given (f32) or each first
    /// rounded to bf16 (bf16), then C = alpha · Σ + beta · C in Float.
    public static func reference(precision: GEMMPrecision, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let round: (Float) -> Float = precision == .bf16 ? roundedToBF16 : { $0 }
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transA ? a[p * lda + i] : a[i * lda + p]
                    let y = transB ? b[j * ldb + p] : b[p * ldb + j]
                    sum += Double(round(x)) * Double(round(y))
                }
                let scaled = alpha * Float(sum)
                c[i * ldc + j] = beta == 0 ? scaled : scaled + beta * c[i * ldc + j]
            }
        }
    }

    /// x rounded to the nearest bfloat16 (ties to even), as a Float; NaN stays NaN.
    public static func roundedToBF16(_ x: Float) -> Float {
        let bits = x.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return x }
        return Float(bitPattern: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) & 0xFFFF_0000)
    }

    /// A process-wide pool for BLAS.gemm's calls into the kernel, rebuilt when the thread count changes.
    static func sharedPool(threads: Int) -> ThreadPool {
        poolLock.lock()
        defer { poolLock.unlock() }
        if let pool = pool, pool.threads == min(threads, ThreadPool.threadLimit) { return pool }
        let fresh = ThreadPool(threads: threads)
        pool = fresh
        return fresh
    }
    private static let poolLock = NSLock()
    nonisolated(unsafe) private static var pool: ThreadPool?
}

/// Buffers kept between calls, so the hot loop allocates nothing after the first call of the largest size;
/// a call made while another holds the spare gets a new one. `packs`: packed-B blocks (512 KiB, 64-byte
/// aligned); `segments`: the scratch of a product split over k (grown when a call needs more).
private final class SpareBuffers: @unchecked Sendable {
    static let packs = SpareBuffers(), segments = SpareBuffers()
    struct Buffer { let pointer: UnsafeMutableRawPointer; let bytes: Int }
    private let lock = NSLock()
    private var spare: [Buffer] = []

    func take(bytes: Int) -> Buffer {
        lock.lock()
        defer { lock.unlock() }
        if let i = spare.lastIndex(where: { $0.bytes >= bytes }) { return spare.remove(at: i) }
        return Buffer(pointer: .allocate(byteCount: bytes, alignment: 64), bytes: bytes)
    }

    func give(_ buffer: Buffer) {
        lock.lock()
        spare.append(buffer)
        lock.unlock()
    }
}
