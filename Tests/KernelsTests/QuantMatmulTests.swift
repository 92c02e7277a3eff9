// QuantizedMatrix products against plain float references, on awkward shapes, with one and two
// threads and both dot-product paths; plus printed (never asserted) speed figures.
import Foundation
import XCTest
import Kernels

final class QuantMatmulTests: XCTestCase {
    private func paths() -> [QuantizedDot.Path] { QuantizedDot.hasAVX2 ? [.avx2, .scalar] : [.scalar] }

    private struct Fixture {
        let type: GGMLType, rows: Int, cols: Int
        let bytes: [UInt8]
        let weights: [Float]  // dequantized, (rows, cols)
    }

    private func fixture(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) throws -> Fixture {
        let w = randomRow(rows * cols, seed: seed, scale: 0.05)
        let bytes = try quantized(type, w)
        return Fixture(type: type, rows: rows, cols: cols, bytes: bytes, weights: try dequantized(type, bytes, count: rows * cols))
    }

    /// y (t, rows) = x (t, cols) · Wᵀ in Double, with Σ|terms| per output for tolerances.
    private func reference(_ f: Fixture, _ x: [Float], t: Int) -> (y: [Double], magnitude: [Double]) {
        var y = [Double](repeating: 0, count: t * f.rows), mag = y
        for s in 0..<t {
            for r in 0..<f.rows {
                var acc = 0.0, m = 0.0
                for c in 0..<f.cols {
                    let p = Double(f.weights[r * f.cols + c]) * Double(x[s * f.cols + c])
                    acc += p; m += abs(p)
                }
                y[s * f.rows + r] = acc; mag[s * f.rows + r] = m
            }
        }
        return (y, mag)
    }

    /// x with each row replaced by its quantize -> dequantize image in the matrix's activation format.
    private func activationImage(_ type: GGMLType, _ x: [Float], t: Int, cols: Int) throws -> [Float] {
        let act = QuantizedDot.activationType(for: type)!
        var out: [Float] = []
        for s in 0..<t { out += try dequantized(act, quantized(act, Array(x[s * cols ..< (s + 1) * cols])), count: cols) }
        return out
    }

    private func tolerance(_ type: GGMLType) -> Double { type == .q4_1 || type == .q5_1 ? 2e-3 : 3e-5 }

    private func shape(_ type: GGMLType) -> (rows: Int, cols: Int) { type.blockSize == 32 ? (37, 32 * 23) : (29, 256 * 3) }

    func testMatVecMatchesFloatReferenceOnOneAndTwoThreads() throws {
        let pools = [ThreadPool(threads: 1), ThreadPool(threads: 2)]
        for type in QuantizedDot.supportedTypes {
            let (rows, cols) = shape(type)
            let f = try fixture(type, rows: rows, cols: cols, seed: 40 + UInt64(type.rawValue))
            let x = randomRow(cols, seed: 41)
            let exact = reference(f, try activationImage(type, x, t: 1, cols: cols), t: 1)
            let loose = reference(f, x, t: 1)
            for path in paths() {
                for pool in pools + [nil] {
                    var m = try f.bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!, path: path) }
                    m.chunkBytes = 1024  // several chunks even for this small matrix
                    var y = [Float](repeating: .nan, count: rows)
                    f.bytes.withUnsafeBytes { _ in m.matVec(x: x, into: &y, pool: pool) }
                    for r in 0..<rows {
                        let label = "\(type) \(path) threads \(pool?.threads ?? 0) row \(r)"
                        XCTAssertEqual(Double(y[r]), exact.y[r], accuracy: tolerance(type) * exact.magnitude[r] + 1e-6, label)
                        // Against unquantized x: the activation rounding costs well under 2% of Σ|w·x|.
                        XCTAssertEqual(Double(y[r]), loose.y[r], accuracy: 0.02 * loose.magnitude[r], label)
                    }
                }
            }
        }
    }

    func testMatMulStrategiesMatchFloatReference() throws {
        let pool = ThreadPool(threads: 2)
        for type in [GGMLType.q4_0, .q8_0, .q5_1, .q4_K, .q6_K] {
            let (rows, cols) = shape(type)
            let f = try fixture(type, rows: rows, cols: cols, seed: 50 + UInt64(type.rawValue))
            for t in [2, 7, 37] {
                let x = randomRow(t * cols, seed: 51 + UInt64(t))
                let viaQuantizedX = reference(f, try activationImage(type, x, t: t, cols: cols), t: t)
                let viaFloatX = reference(f, x, t: t)
                for strategy in [QuantizedMatrix.MatMulStrategy.quantizedDots, .dequantizeTilesAndGemm] {
                    for p in [pool, nil] {
                        let m = try f.bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!) }
                        var y = [Float](repeating: .nan, count: t * rows)
                        f.bytes.withUnsafeBytes { _ in m.matMul(x: x, t: t, into: &y, pool: p, strategy: strategy) }
                        // sgemm sees the float x; the quantized dots see x's Q8 image.
                        let ref = strategy == .quantizedDots ? viaQuantizedX : viaFloatX
                        let tol = strategy == .quantizedDots ? tolerance(type) : 1e-5
                        for i in 0..<t * rows {
                            XCTAssertEqual(Double(y[i]), ref.y[i], accuracy: tol * ref.magnitude[i] + 1e-6,
                                           "\(type) t=\(t) \(strategy) threads \(p?.threads ?? 0) index \(i)")
                        }
                    }
                }
            }
        }
    }

    func testRejectsUnsupportedTypesAndPartialRows() {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 16)
        defer { bytes.deallocate() }
        do { let p = UnsafeRawBufferPointer(bytes)
            XCTAssertThrowsError(try QuantizedMatrix(type: .f16, rows: 2, cols: 64, data: p.baseAddress!))
            XCTAssertThrowsError(try QuantizedMatrix(type: .q4_0, rows: 2, cols: 48, data: p.baseAddress!))
            XCTAssertThrowsError(try QuantizedMatrix(type: .q4_K, rows: 1, cols: 32 * 5, data: p.baseAddress!))
        }
    }

    // MARK: Speed (printed for the report, not asserted)

    /// (median, best) seconds of `runs` timed calls after one warm-up call.
    private func timings(_ runs: Int, _ body: () -> Void) -> (median: Double, best: Double) {
        body()  // warm caches and the pool
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        times.sort()
        return (times[runs / 2], times[0])
    }

    func testPrintMatVecBandwidth() throws {
        // 2048 × 2048 stays in the 32 MiB L3 between runs; 8192 × 8192 (release only) does not.
        var shapes = [(2048, 2048)]
        #if !DEBUG
        shapes.append((8192, 8192))
        #endif
        let pools: [ThreadPool?] = [nil, ThreadPool(threads: 2)]
        for (rows, cols) in shapes {
            let x = randomRow(cols, seed: 90)
            var y = [Float](repeating: 0, count: rows)
            for type in rows == 2048 ? [GGMLType.q4_0, .q8_0, .q4_K, .q6_K] : [.q4_0, .q8_0] {
                // Random block bytes: quantizing millions of floats with the reference quantizer is slow in debug.
                let bytes = randomBlocks(type, count: rows * cols, seed: 91)
                for path in paths() where rows == 2048 || path == .avx2 {
                    for pool in pools {
                        let m = try bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!, path: path) }
                        #if DEBUG
                        let runs = path == .avx2 ? 11 : 1
                        #else
                        let runs = path == .avx2 ? (rows == 2048 ? 101 : 21) : 5
                        #endif
                        let (med, best) = bytes.withUnsafeBytes { _ in timings(runs) { m.matVec(x: x, into: &y, pool: pool) } }
                        print(String(format: "matVec %@ %ldx%ld %@ threads %ld: median %.1f us = %.1f GB/s, best %.1f GB/s",
                                     type.description, rows, cols, path.description, pool?.threads ?? 1, med * 1e6,
                                     Double(bytes.count) / med / 1e9, Double(bytes.count) / best / 1e9))
                    }
                }
            }
        }
    }

    func testPrintMatMulStrategyTimings() throws {
        #if DEBUG
        // Debug builds time the unoptimized Swift around the kernels; run it with
        // `swift test -c release -Xswiftc -enable-testing --filter QuantMatmulTests.testPrint`.
        try XCTSkipUnless(ProcessInfo.processInfo.environment["HAYAI_BENCH"] != nil, "timings are for release builds")
        #endif
        // The two strategies run alternately and each keeps its best time, so that load from other
        // processes on this shared machine disturbs the comparison as little as possible.
        let rows = 2048, cols = 2048
        let twoThreads = ThreadPool(threads: 2)
        defer { BLAS.setThreads(2) }
        for threads in [1, 2] {
            BLAS.setThreads(threads)
            let pool = threads == 2 ? twoThreads : nil
            for type in [GGMLType.q4_0, .q8_0, .q4_K] {
                let bytes = randomBlocks(type, count: rows * cols, seed: 92)
                let m = try bytes.withUnsafeBytes { try QuantizedMatrix(type: type, rows: rows, cols: cols, data: $0.baseAddress!) }
                for t in [8, 32, 64, 128, 256, 512] {
                    let x = randomRow(t * cols, seed: 93)
                    var y = [Float](repeating: 0, count: t * rows)
                    let strategies: [QuantizedMatrix.MatMulStrategy] = [.quantizedDots, .dequantizeTilesAndGemm]
                    var best = [Double](repeating: .infinity, count: 2)
                    bytes.withUnsafeBytes { _ in
                        for _ in 0..<(t >= 256 ? 3 : 7) {
                            for (k, strategy) in strategies.enumerated() {
                                let start = DispatchTime.now().uptimeNanoseconds
                                m.matMul(x: x, t: t, into: &y, pool: pool, strategy: strategy)
                                best[k] = min(best[k], Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
                            }
                        }
                    }
                    let flops = 2.0 * Double(t * rows * cols)
                    print(String(format: "matMul %@ 2048x2048 t=%ld threads %ld best: quantized dots %.2f ms (%.0f GFLOP/s), dequantize + sgemm %.2f ms (%.0f GFLOP/s)",
                                 type.description, t, threads, best[0] * 1e3, flops / best[0] / 1e9, best[1] * 1e3, flops / best[1] / 1e9))
                }
            }
        }
    }
}
