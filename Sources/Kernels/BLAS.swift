// Matrix products through OpenBLAS or hayai's own GEMM (GEMM.swift). Conventions follow PyTorch's Linear:
// a weight W is (out, in), row-major, and activations X are (T, in) row-major, so Y = X · Wᵀ is (T, out).
import COpenBLAS
import CKernels

public enum BLAS {
    /// Sets how many threads OpenBLAS's own pool uses.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// Threads OpenBLAS's pool uses now.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` with OpenBLAS on one thread (restored after), for code that splits sgemm calls
    /// over hayai's ThreadPool itself: two pools that both spin-wait on two cores slow each other
    /// down (measured on 2 vCPUs: llama.cpp-style spinning pools ran 10–30× slower). Nested calls are fine.
    public static func withSingleThread<R>(_ body: () throws -> R) rethrows -> R {
        let saved = threads
        if saved == 1 { return try body() }
        setThreads(1)
        defer { setThreads(saved) }
        return try body()
    }

    /// y (T, out) = x (T, in) · wᵀ (+ y when accumulate). Uses sgemv for one row: sgemm with M=1 is slow;
    /// more rows go through `gemm`, so the kernel it picks for the shape runs (training's forward included).
    /// x: (t, inFeatures), w: (outFeatures, inFeatures) -> y: (t, outFeatures)
    public static func linear(_ x: UnsafePointer<Float>, t: Int, _ w: UnsafePointer<Float>, inFeatures: Int, outFeatures: Int,
                              into y: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let beta: Float = accumulate ? 1 : 0
        if t == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(outFeatures), Int32(inFeatures), 1, w, Int32(inFeatures), x, 1, beta, y, 1)
        } else {
            gemm(transA: false, transB: true, m: t, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: w, ldb: inFeatures,
                 beta: beta, c: y, ldc: outFeatures)
        }
    }

    /// y (m) = alpha · op(A) · x + beta · y with A (m, n) row-major, leading dimension lda.
    /// With `trans`, y (n) = alpha · Aᵀ · x (x has m elements).
    public static func gemv(trans: Bool, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                            x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// The arithmetic of `gemm`: f32 (the default), or bf16 inputs with f32 sums where the CPU has
    /// AVX512-BF16 (training's `--precision bf16`; set it with `withPrecision`). Process-wide, like `threads`.
    public static var precision: GEMMPrecision {
        hayai_gemm_precision_get() == 1 ? .bf16 : .f32
    }

    /// Runs `body` with `gemm` in `precision` (restored after).
    public static func withPrecision<R>(_ precision: GEMMPrecision, _ body: () throws -> R) rethrows -> R {
        let saved = hayai_gemm_precision_get()
        hayai_gemm_precision_set(precision == .bf16 ? 1 : 0)
        defer { hayai_gemm_precision_set(saved) }
        return try body()
    }

    /// Which kernel `gemm` runs for a shape, in the current precision.
    public enum GEMMKernel: String, Sendable { case openBLAS, hayaiF32, hayaiBF16 }

    /// hayai's kernel runs both precisions (OpenBLAS has no bf16) except where C is one 32-column panel wide or
    /// narrower (attention's P·V with head dim 32, LoRA's rank-r products): there OpenBLAS's f32 measured faster
    /// (bf16 0.75–0.81×, f32 0.88×). Elsewhere hayai's f32 measured 1.3–2.7× OpenBLAS on one thread and 1.3–2.9× on
    /// two (`hayai bench --gemm` on the 2-vCPU Zen 5 VM, README "hayai's GEMM"): its AVX-512 micro-kernel against
    /// OpenBLAS's AVX2 one (OPENBLAS_CORETYPE=Haswell). `hayaiF32Shapes` says which f32 shapes it takes.
    /// Shape only, never the thread count, so results do not depend on `-t`.
    public static func kernel(m: Int, n: Int, k: Int, precision: GEMMPrecision = BLAS.precision) -> GEMMKernel {
        if precision == .bf16, GEMM.isAvailable(.bf16), min(m, n) > GEMM.nr { return .hayaiBF16 }
        if GEMM.isAvailable(.f32), hayaiF32Shapes(m, n, k) { return .hayaiF32 }
        return .openBLAS
    }

    /// The f32 shapes hayai's kernel takes from OpenBLAS: every C wider and taller than one 32-column panel.
    nonisolated(unsafe) static var hayaiF32Shapes: (Int, Int, Int) -> Bool = defaultHayaiF32Shapes
    static let defaultHayaiF32Shapes: (Int, Int, Int) -> Bool = { m, n, _ in min(m, n) > GEMM.nr }

    /// General C (m, n) = alpha · op(A) · op(B) + beta · C, row-major with explicit leading dimensions.
    /// Runs hayai's kernel on a pool of `threads` threads or OpenBLAS, as `kernel(m:n:k:)` says.
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                            a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                            beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        let kernel = kernel(m: m, n: n, k: k)
        if kernel != .openBLAS {
            // A product under ~8 MFLOP (under 100 µs on one core) runs on the calling thread: a parallelFor on the
            // 2-vCPU machine cost 70 µs beyond its work while others built (`hayai bench --gemm`'s pool sync line).
            // The result is the same bits either way.
            let threads = 2 * m * n * k < 8_000_000 ? 1 : self.threads
            GEMM.run(precision: kernel == .hayaiBF16 ? .bf16 : .f32, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
                     a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc,
                     pool: threads > 1 ? GEMM.sharedPool(threads: threads) : nil)
            return
        }
        openBLASGemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// OpenBLAS's sgemm, whatever the shape (the benchmark's comparison, and `gemm` where it is faster).
    public static func openBLASGemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
