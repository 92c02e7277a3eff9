// The AVX2 row operations, dense (F32/F16/BF16) matrix products and KV-cache attention against
// plain Swift references, on awkward sizes (not multiples of 8 or 32).
import XCTest
import CKernels
import Kernels

final class FastOpsTests: XCTestCase {
    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } }

    func testNormsSoftmaxSiluAndAddMatchThePlainOps() {
        for n in [1, 7, 64, 100, 577] {
            let x = randomRow(n, seed: UInt64(n)), w = randomRow(n, seed: 99), b = randomRow(n, seed: 98)
            var fast = [Float](repeating: 0, count: n), plain = fast
            FastOps.layerNorm(x, t: 1, c: n, weight: w, bias: b, eps: 1e-5, into: &fast)
            Ops.layerNorm(x, t: 1, c: n, weight: w, bias: b, eps: 1e-5, into: &plain)
            XCTAssertLessThan(maxDiff(fast, plain), 1e-4, "layerNorm \(n)")
            FastOps.rmsNorm(x, t: 1, c: n, weight: w, eps: 1e-5, into: &fast)
            Ops.rmsNorm(x, t: 1, c: n, weight: w, eps: 1e-5, into: &plain)
            XCTAssertLessThan(maxDiff(fast, plain), 1e-4, "rmsNorm \(n)")
            fast = x.map { $0 * 9 }; plain = fast
            FastOps.softmax(&fast, n: n); Ops.softmax(&plain, n: n)
            XCTAssertLessThan(maxDiff(fast, plain), 1e-6, "softmax \(n)")
            fast = w; FastOps.siluMul(&fast, gate: x.map { $0 * 10 }, count: n)
            plain = zip(w, x).map { $0 * Ops.silu($1 * 10) }
            XCTAssertLessThan(maxDiff(fast, plain), 1e-5, "silu \(n)")
            fast = x; FastOps.add(&fast, w, count: n)
            XCTAssertEqual(fast, zip(x, w).map(+), "add \(n)")
        }
    }

    /// The gated SiLU's 16-lane path (where the CPU has AVX-512) writes the AVX2 path's bits, which training's
    /// exactness tests pin; sizes that leave 8-lane and scalar tails.
    func testSiluMulGivesTheAVX2PathsBits() {
        for n in [1, 9, 16, 31, 100, 577, 1536 * 3 + 13] {
            let g = randomRow(n, seed: UInt64(n)).map { $0 * 12 }, u = randomRow(n, seed: 7)
            var fast = [Float](repeating: 0, count: n), avx2 = fast
            hayai_silu_mul_into(g, u, &fast, n)
            hayai_silu_mul_into_avx2(g, u, &avx2, n)
            XCTAssertEqual(fast.map(\.bitPattern), avx2.map(\.bitPattern), "n = \(n)")
        }
    }

    func testDenseMatVecAndMatMulMatchFloatReference() throws {
        let pool = ThreadPool(threads: 2)
        for (rows, cols) in [(1, 1), (5, 13), (67, 100), (130, 257)] {
            let w = randomRow(rows * cols, seed: UInt64(rows * 31 + cols))
            let half = w.map { Float16($0) }, halfBits = half.map(\.bitPattern)
            let bfBits = w.map { UInt16($0.bitPattern >> 16) }
            let asHalf = half.map(Float.init), asBF = bfBits.map { Float(bitPattern: UInt32($0) << 16) }
            for t in [1, 3] {
                let x = randomRow(t * cols, seed: 5)
                func reference(_ m: [Float]) -> [Float] {
                    (0..<t).flatMap { s in (0..<rows).map { r in (0..<cols).reduce(Float(0)) { $0 + m[r * cols + $1] * x[s * cols + $1] } } }
                }
                func copy<T>(_ a: [T]) -> UnsafeRawPointer {
                    let p = UnsafeMutableRawPointer.allocate(byteCount: max(1, a.count * MemoryLayout<T>.stride), alignment: 64)
                    a.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    return UnsafeRawPointer(p)
                }
                let cases: [(DenseMatrix.Element, UnsafeRawPointer, [Float])] = [(.f32, copy(w), w), (.f16, copy(halfBits), asHalf), (.bf16, copy(bfBits), asBF)]
                defer { cases.forEach { $0.1.deallocate() } }
                for (element, data, values) in cases {
                    for p in [nil, pool] {
                        var y = [Float](repeating: .nan, count: t * rows)
                        DenseMatrix(element: element, rows: rows, cols: cols, data: data).matMul(x: x, t: t, into: &y, pool: p)
                        let tol = Float(cols).squareRoot() * 1e-5 * 4
                        XCTAssertLessThan(maxDiff(y, reference(values)), tol, "\(element) \(rows)x\(cols) t=\(t)")
                    }
                }
            }
        }
    }

    func testAttentionOverEveryCacheStorageMatchesReference() {
        // (kv dim, head dim, query heads per kv head)
        for (kvDim, d, group) in [(64, 16, 1), (128, 64, 2), (96, 32, 3), (40, 20, 1)] {
            let length = 37, kvHeads = kvDim / d, heads = kvHeads * group
            let keys = randomRow(length * kvDim, seed: 1), values = randomRow(length * kvDim, seed: 2), q = randomRow(heads * d, seed: 3)
            for storage in KVStorage.allCases {
                guard let rowBytes = storage.rowBytes(kvDim) else { continue }
                var kc = [UInt8](repeating: 0, count: length * rowBytes), vc = kc
                kc.withUnsafeMutableBytes { k in vc.withUnsafeMutableBytes { v in
                    for j in 0..<length {
                        keys.withUnsafeBufferPointer { storage.store($0.baseAddress! + j * kvDim, elements: kvDim, into: k.baseAddress! + j * rowBytes) }
                        values.withUnsafeBufferPointer { storage.store($0.baseAddress! + j * kvDim, elements: kvDim, into: v.baseAddress! + j * rowBytes) }
                    }
                } }
                // Reference per head over the stored (rounded) values of its kv head.
                let scale: Float = 0.3
                var expected = [Float]()
                for h in 0..<heads {
                    let off = (h / group) * d
                    var kw = [Float](repeating: 0, count: length * d), vw = kw
                    kc.withUnsafeBytes { storage.rowsAsFloat($0.baseAddress!, rowBytes: rowBytes, offset: off, d: d, rows: length, into: &kw) }
                    vc.withUnsafeBytes { storage.rowsAsFloat($0.baseAddress!, rowBytes: rowBytes, offset: off, d: d, rows: length, into: &vw) }
                    if storage == .f32 { XCTAssertEqual(kw, (0..<length).flatMap { Array(keys[($0 * kvDim + off)..<($0 * kvDim + off + d)]) }) }
                    var p = (0..<length).map { j in scale * (0..<d).reduce(Float(0)) { $0 + q[h * d + $1] * kw[j * d + $1] } }
                    Ops.softmax(&p, n: length)
                    expected += (0..<d).map { i in (0..<length).reduce(Float(0)) { $0 + p[$1] * vw[$1 * d + i] } }
                }
                // All heads in one call, and split into two ranges as two threads run them.
                for ranges in [[0..<heads], [0..<heads / 2, heads / 2..<heads]] {
                    var out = [Float](repeating: .nan, count: heads * d), scores = [Float](repeating: 0, count: heads * 40)
                    kc.withUnsafeBytes { k in vc.withUnsafeBytes { v in
                        for r in ranges where !r.isEmpty {
                            storage.attend(queries: q, heads: r, group: group, keys: k.baseAddress!, values: v.baseAddress!, rowBytes: rowBytes,
                                           d: d, length: length, scale: scale, scores: &scores, ldScores: 40, into: &out)
                        }
                    } }
                    XCTAssertLessThan(maxDiff(out, expected), 1e-4, "\(storage) kvDim \(kvDim) d \(d) group \(group) ranges \(ranges)")
                }
            }
        }
    }

    func testFastDequantizeOfQ8_0AndQ4_0EqualsTheReference() throws {
        let rows = 7, cols = 96
        for type in [GGMLType.q8_0, .q4_0] {
            let bytes = try quantized(type, randomRow(rows * cols, seed: 11))
            let expected = try dequantized(type, bytes, count: rows * cols)
            var got = [Float](repeating: .nan, count: rows * cols)
            try bytes.withUnsafeBytes { p in
                try QuantizedMatrix(type: type, rows: rows, cols: cols, data: p.baseAddress!).dequantizeRows(0..<rows, into: &got)
            }
            XCTAssertEqual(got, expected, "\(type)")
        }
    }

    func testCombinedMatVecOfThreeMatricesEqualsSeparateProducts() throws {
        let pool = ThreadPool(threads: 2)
        let cols = 96, shapes = [37, 200, 5]
        for type in [GGMLType.q8_0, .q4_1] {
            let data = try shapes.enumerated().map { i, rows in try quantized(type, randomRow(rows * cols, seed: UInt64(i + 1))) }
            let x = randomRow(cols, seed: 9)
            var separate = shapes.map { [Float](repeating: 0, count: $0) }
            var t0 = separate[0], t1 = separate[1], t2 = separate[2]
            try data[0].withUnsafeBytes { p0 in try data[1].withUnsafeBytes { p1 in try data[2].withUnsafeBytes { p2 in
                var m = [try QuantizedMatrix(type: type, rows: shapes[0], cols: cols, data: p0.baseAddress!),
                         try QuantizedMatrix(type: type, rows: shapes[1], cols: cols, data: p1.baseAddress!),
                         try QuantizedMatrix(type: type, rows: shapes[2], cols: cols, data: p2.baseAddress!)]
                for i in 0..<3 { m[i].chunkBytes = 512; m[i].matVec(x: x, into: &separate[i], pool: nil) }
                t0.withUnsafeMutableBufferPointer { y0 in t1.withUnsafeMutableBufferPointer { y1 in
                    t2.withUnsafeMutableBufferPointer { y2 in
                        QuantizedMatrix.matVec(m[0], into: y0.baseAddress!, m[1], into: y1.baseAddress!, m[2], into: y2.baseAddress!, x: x, pool: pool)
                    } } }
            } } }
            XCTAssertEqual([t0, t1, t2], separate, "\(type)")
        }
    }
}
