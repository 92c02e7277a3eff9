// hayai's GEMM (Kernels/GEMM.swift, CKernels/gemm.c) against its scalar reference: every layout, both
// precisions, awkward sizes (edges of the 12 × 32 tile, k and n across block boundaries), alpha/beta,
// leading dimensions wider than the matrices, 1 and 2 threads; and BLAS.gemm's choice of kernel.
import XCTest
@testable import Kernels

final class GEMMTests: XCTestCase {
    /// (m, n, k) with every size on or off the tile edges; 530 columns make two column blocks,
    /// k 600 two f32 depth blocks (and an odd k leaves half a bf16 pair).
    private let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (3, 17, 33), (17, 3, 100), (33, 100, 3), (100, 33, 17), (129, 129, 129),
        (13, 530, 37), (25, 65, 600), (1, 100, 129), (129, 1, 17), (12, 32, 513),
    ]

    private func randomMatrix(_ count: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<count).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    /// Runs one shape both ways and checks every element of C, and that nothing outside C (the padding
    /// of a wider ldc) changed.
    private func check(_ precision: GEMMPrecision, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
                       pad: Int, pool: ThreadPool?, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let (aRows, aCols) = transA ? (k, m) : (m, k), (bRows, bCols) = transB ? (n, k) : (k, n)
        let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
        let a = randomMatrix(aRows * lda, &rng), b = randomMatrix(bRows * ldb, &rng)
        let c0 = randomMatrix(m * ldc, &rng)
        var fast = c0, slow = c0
        GEMM.run(precision: precision, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: &fast, ldc: ldc, pool: pool)
        GEMM.reference(precision: precision, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                       b: b, ldb: ldb, beta: beta, c: &slow, ldc: ldc)
        let label = "\(precision) \(transA ? "T" : "N")\(transB ? "T" : "N") \(m)×\(n)×\(k) α \(alpha) β \(beta) pad \(pad) threads \(pool?.threads ?? 1)"
        var worst: Float = 0
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i * ldc + j
                if j >= n { XCTAssertEqual(fast[index], c0[index], "\(label): wrote outside C at (\(i), \(j))"); continue }
                // Products of f32 (or bf16) inputs summed in f32: a few ulps of Σ|a·b| (k ≤ 600 terms, random signs).
                let bound = 2e-6 * Float(k).squareRoot() * Float(k) + 1e-6 * abs(beta * c0[index])
                worst = max(worst, abs(fast[index] - slow[index]) / bound)
            }
        }
        XCTAssertLessThanOrEqual(worst, 1, label)
    }

    func testEveryLayoutAndPrecisionMatchesTheReferenceOnAwkwardSizes() throws {
        let pool = ThreadPool(threads: 2)
        for precision in GEMMPrecision.allCases {
            try XCTSkipUnless(GEMM.isAvailable(precision), "this CPU has no AVX512\(precision == .bf16 ? "-BF16" : "")")
            for (s, (m, n, k)) in shapes.enumerated() {
                for transA in [false, true] {
                    for transB in [false, true] {
                        check(precision, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, beta: 0, pad: 0,
                              pool: s % 2 == 0 ? nil : pool, seed: UInt64(s))
                    }
                }
            }
        }
    }

    func testAlphaBetaAndWideLeadingDimensionsOnOneAndTwoThreads() throws {
        try XCTSkipUnless(GEMM.isAvailable(.bf16), "this CPU has no AVX512-BF16")
        let pool = ThreadPool(threads: 2)
        for precision in GEMMPrecision.allCases {
            for (alpha, beta) in [(Float(0.5), Float(1)), (-2, 0.25), (1, -1)] {
                for layout in 0..<4 {
                    for threads in [nil, pool] {
                        check(precision, transA: layout & 1 != 0, transB: layout & 2 != 0, m: 37, n: 45, k: 70, alpha: alpha, beta: beta,
                              pad: 5, pool: threads, seed: UInt64(layout))
                    }
                }
            }
        }
    }

    /// k = 0 and alpha = 0 only scale C by beta; beta 0 clears it even where it held NaN (C is not read).
    func testEmptyDepthScalesCAndBetaZeroNeverReadsC() throws {
        try XCTSkipUnless(GEMM.isAvailable(.f32), "this CPU has no AVX512")
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [1, 0, 0, 1]
        var c: [Float] = [1, 2, 3, 4]
        GEMM.run(precision: .f32, transA: false, transB: false, m: 2, n: 2, k: 0, a: a, lda: 2, b: b, ldb: 2, beta: 3, c: &c, ldc: 2, pool: nil)
        XCTAssertEqual(c, [3, 6, 9, 12])
        c = [.nan, .nan, .nan, .nan]
        GEMM.run(precision: .f32, transA: false, transB: false, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0, c: &c, ldc: 2, pool: nil)
        XCTAssertEqual(c, [1, 2, 3, 4])
    }

    /// The same call gives the same bits on 1 and 2 threads and run to run (the bit-exact resume of training needs it).
    func testResultsAreBitIdenticalAcrossThreadCounts() throws {
        let pool = ThreadPool(threads: 2)
        for precision in GEMMPrecision.allCases {
            try XCTSkipUnless(GEMM.isAvailable(precision))
            var rng = SplitMix64(seed: 7)
            let (m, n, k) = (301, 530, 700)
            let a = randomMatrix(m * k, &rng), b = randomMatrix(n * k, &rng)
            var results: [[Float]] = []
            for threads in [nil, pool, pool] {
                var c = [Float](repeating: 0, count: m * n)
                GEMM.run(precision: precision, transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n, pool: threads)
                results.append(c)
            }
            XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern), "\(precision)")
            XCTAssertEqual(results[1].map(\.bitPattern), results[2].map(\.bitPattern), "\(precision)")
        }
    }

    /// bf16 rounds to nearest, ties to even, and the bf16 product stays within bf16's error of f32's.
    func testBF16RoundingAndErrorAgainstF32() throws {
        XCTAssertEqual(GEMM.roundedToBF16(1 + 1 / 256), 1)                 // below half an ulp (1/128): down
        XCTAssertEqual(GEMM.roundedToBF16(1 + 3 / 256), 1 + 1 / 64)        // a tie between 1 + 1/128 and 1 + 2/128: to even
        XCTAssertEqual(GEMM.roundedToBF16(1 + 1 / 256 + 1 / 4096), 1 + 1 / 128)
        XCTAssertTrue(GEMM.roundedToBF16(.nan).isNaN)
        try XCTSkipUnless(GEMM.isAvailable(.bf16))
        var rng = SplitMix64(seed: 3)
        let (m, n, k) = (100, 129, 517)
        let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng)
        var f32 = [Float](repeating: 0, count: m * n), bf16 = f32
        GEMM.run(precision: .f32, transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &f32, ldc: n, pool: nil)
        GEMM.run(precision: .bf16, transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: &bf16, ldc: n, pool: nil)
        // Each input's relative error ≤ 2⁻⁹, so a product's ≤ 2⁻⁸; over k random-sign terms of size ~1/3
        // the sum's error is ~ 2⁻⁸ · √k / 3 ≈ 0.03 at most a few times that.
        let worst = zip(f32, bf16).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 0.1)
        XCTAssertGreaterThan(worst, 0, "bf16 rounded nothing")
    }

    /// BLAS.gemm runs bf16 only when asked, f32 on hayai's kernel only for the shapes it wins, and gives the same
    /// result as the kernel it names.
    func testBLASGemmChoosesTheKernelByShapeAndPrecision() throws {
        try XCTSkipUnless(GEMM.isAvailable(.bf16))
        XCTAssertEqual(BLAS.kernel(m: 2048, n: 576, k: 576), .hayaiF32)
        XCTAssertEqual(BLAS.kernel(m: 256, n: 32, k: 256), .openBLAS, "one panel wide: OpenBLAS's f32 was faster")
        XCTAssertEqual(BLAS.kernel(m: 16, n: 576, k: 2048), .openBLAS)
        XCTAssertEqual(BLAS.kernel(m: 2048, n: 576, k: 576, precision: .bf16), .hayaiBF16)
        XCTAssertEqual(BLAS.kernel(m: 256, n: 32, k: 256, precision: .bf16), .openBLAS, "one panel wide: OpenBLAS's f32 was faster")
        XCTAssertEqual(BLAS.kernel(m: 16, n: 576, k: 2048, precision: .bf16), .openBLAS)
        XCTAssertEqual(BLAS.precision, .f32)
        // A shape the f32 rule gives to hayai runs there (a table that takes only this one checks the routing).
        BLAS.hayaiF32Shapes = { m, _, _ in m == 70 }
        defer { BLAS.hayaiF32Shapes = BLAS.defaultHayaiF32Shapes }
        XCTAssertEqual(BLAS.kernel(m: 70, n: 90, k: 80), .hayaiF32)
        var rng = SplitMix64(seed: 11)
        let (m, n, k) = (70, 90, 80)
        let a = randomMatrix(m * k, &rng), b = randomMatrix(n * k, &rng)
        for precision in GEMMPrecision.allCases {
            var viaBLAS = [Float](repeating: 0, count: m * n), direct = viaBLAS
            BLAS.withPrecision(precision) {
                XCTAssertEqual(BLAS.precision, precision)
                BLAS.gemm(transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &viaBLAS, ldc: n)
            }
            GEMM.run(precision: precision, transA: false, transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &direct, ldc: n, pool: nil)
            XCTAssertEqual(viaBLAS.map(\.bitPattern), direct.map(\.bitPattern), "\(precision)")
        }
        XCTAssertEqual(BLAS.precision, .f32, "withPrecision restores the setting")
    }

    /// A deep product with a small C (a weight gradient's shape) runs in segments of k, one per task, added in order:
    /// it matches the reference in both precisions and every layout, gives the same bits on one thread and on two, and
    /// a shallow or wide product is not split.
    func testDeepProductsSplitOverKMatchTheReferenceAndTheThreadCountDoesNotMatter() throws {
        XCTAssertEqual(GEMM.depthSegments(precision: .f32, m: 256, n: 256, k: 4096), 4)
        XCTAssertEqual(GEMM.depthSegments(precision: .f32, m: 256, n: 256, k: 1024), 1, "four blocks of k: not split")
        XCTAssertEqual(GEMM.depthSegments(precision: .f32, m: 8000, n: 256, k: 4096), 1, "C too large for scratch")
        XCTAssertEqual(GEMM.depthSegments(precision: .bf16, m: 256, n: 256, k: 2048), 1, "bf16 blocks hold 512 k")
        let pool = ThreadPool(threads: 2)
        for precision in GEMMPrecision.allCases {
            try XCTSkipUnless(GEMM.isAvailable(precision))
            let (m, n, k) = (37, 45, precision == .f32 ? 2101 : 4203)
            XCTAssertEqual(GEMM.depthSegments(precision: precision, m: m, n: n, k: k), 4)
            for transA in [false, true] {
                for transB in [false, true] {
                    check(precision, transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, beta: 1, pad: 3, pool: pool, seed: 21)
                    var rng = SplitMix64(seed: 22)
                    let lda = transA ? m : k, ldb = transB ? k : n
                    let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng), c0 = randomMatrix(m * n, &rng)
                    var one = c0, two = c0
                    GEMM.run(precision: precision, transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                             beta: 1, c: &one, ldc: n, pool: nil)
                    GEMM.run(precision: precision, transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                             beta: 1, c: &two, ldc: n, pool: pool)
                    XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern), "\(precision) transA \(transA) transB \(transB)")
                }
            }
        }
    }

    /// BLAS.linear (the dense forward's x·Wᵀ, training's included) runs the kernel BLAS.gemm picks: hayai's f32 for a
    /// shape it takes, to the bit, accumulating when asked.
    func testLinearRunsTheKernelGemmPicks() throws {
        try XCTSkipUnless(GEMM.isAvailable(.f32))
        let (t, inFeatures, outFeatures) = (70, 83, 97)
        XCTAssertEqual(BLAS.kernel(m: t, n: outFeatures, k: inFeatures), .hayaiF32)
        var rng = SplitMix64(seed: 5)
        let x = randomMatrix(t * inFeatures, &rng), w = randomMatrix(outFeatures * inFeatures, &rng), start = randomMatrix(t * outFeatures, &rng)
        for accumulate in [false, true] {
            var viaLinear = start, direct = start
            BLAS.linear(x, t: t, w, inFeatures: inFeatures, outFeatures: outFeatures, into: &viaLinear, accumulate: accumulate)
            GEMM.run(precision: .f32, transA: false, transB: true, m: t, n: outFeatures, k: inFeatures, a: x, lda: inFeatures, b: w,
                     ldb: inFeatures, beta: accumulate ? 1 : 0, c: &direct, ldc: outFeatures, pool: nil)
            XCTAssertEqual(viaLinear.map(\.bitPattern), direct.map(\.bitPattern), "accumulate \(accumulate)")
        }
    }
}
