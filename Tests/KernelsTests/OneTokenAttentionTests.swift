// One token's attention over an F16 or Q8_0 cache on AVX-512 (rows widened once per kv head, blocks of
// rows, out in registers) against the AVX2 path and a plain Swift reference over the stored values, on
// awkward sizes: head sizes of 1 to 16 vectors (odd counts for F16, 96 = 6 vectors for Q8_0, 256 = the
// most the AVX-512 path takes, 288 beyond it), lengths that end mid-block, query-head ranges that split
// a group as two threads split the heads.
import XCTest
import Kernels

final class OneTokenAttentionTests: XCTestCase {
    /// The cache rows of `storage` holding `length` random rows of kvDim elements, and those rows as stored (rounded).
    func cache(_ storage: KVStorage, length: Int, kvDim: Int, seed: UInt64) -> (bytes: [UInt8], stored: [Float]) {
        let rowBytes = storage.rowBytes(kvDim)!, x = randomRow(length * kvDim, seed: seed)
        var bytes = [UInt8](repeating: 0, count: length * rowBytes), stored = [Float](repeating: 0, count: length * kvDim)
        bytes.withUnsafeMutableBytes { b in
            x.withUnsafeBufferPointer { xb in
                for j in 0..<length { storage.store(xb.baseAddress! + j * kvDim, elements: kvDim, into: b.baseAddress! + j * rowBytes) }
            }
            storage.rowsAsFloat(UnsafeRawPointer(b.baseAddress!), rowBytes: rowBytes, offset: 0, d: kvDim, rows: length, into: &stored)
        }
        return (bytes, stored)
    }

    /// Heads `ranges` of one query, each range in its own call as the pool's threads run them.
    func attend(_ storage: KVStorage, q: [Float], keys: [UInt8], values: [UInt8], kvDim: Int, d: Int, group: Int, length: Int,
                ranges: [Range<Int>]) -> [Float] {
        let heads = q.count / d, ld = length + 5
        var out = [Float](repeating: .nan, count: heads * d), scores = [Float](repeating: 0, count: heads * ld)
        keys.withUnsafeBytes { k in values.withUnsafeBytes { v in
            for r in ranges where !r.isEmpty {
                storage.attend(queries: q, heads: r, group: group, keys: k.baseAddress!, values: v.baseAddress!,
                               rowBytes: storage.rowBytes(kvDim)!, d: d, length: length, scale: 0.3, scores: &scores, ldScores: ld,
                               into: &out)
            }
        } }
        return out
    }

    func testAVX512OneTokenAttentionMatchesAVX2AndReferenceOnAwkwardShapes() throws {
        try XCTSkipUnless(KVStorage.attendOnAVX512, "this CPU has no AVX-512")
        defer { KVStorage.attendOnAVX512 = true }
        // (storage, kv heads, head size, query heads per kv head, cached positions)
        let cases: [(KVStorage, Int, Int, Int, Int)] = [
            (.q8_0, 3, 64, 3, 300), (.q8_0, 2, 32, 2, 1), (.q8_0, 1, 96, 4, 130), (.q8_0, 2, 128, 1, 77),
            (.q8_0, 1, 256, 2, 37), (.q8_0, 1, 288, 2, 20),
            (.f16, 2, 48, 3, 200), (.f16, 4, 16, 1, 257), (.f16, 1, 80, 5, 65), (.f16, 2, 256, 1, 17),
        ]
        for (storage, kvHeads, d, group, length) in cases {
            let kvDim = kvHeads * d, heads = kvHeads * group, label = "\(storage) kv heads \(kvHeads) d \(d) group \(group) length \(length)"
            let (kc, keys) = cache(storage, length: length, kvDim: kvDim, seed: 1)
            let (vc, values) = cache(storage, length: length, kvDim: kvDim, seed: 2)
            let q = randomRow(heads * d, seed: 3)
            var expected = [Float]()
            for h in 0..<heads {
                let off = (h / group) * d
                var p = (0..<length).map { j in 0.3 * (0..<d).reduce(Float(0)) { $0 + q[h * d + $1] * keys[j * kvDim + off + $1] } }
                Ops.softmax(&p, n: length)
                expected += (0..<d).map { i in (0..<length).reduce(Float(0)) { $0 + p[$1] * values[$1 * kvDim + off + i] } }
            }
            KVStorage.attendOnAVX512 = false
            let avx2 = attend(storage, q: q, keys: kc, values: vc, kvDim: kvDim, d: d, group: group, length: length, ranges: [0..<heads])
            KVStorage.attendOnAVX512 = true
            let wide = attend(storage, q: q, keys: kc, values: vc, kvDim: kvDim, d: d, group: group, length: length, ranges: [0..<heads])
            // A range that ends inside a group (the next one starts there), as two threads split 9 heads 4 + 5.
            let split = attend(storage, q: q, keys: kc, values: vc, kvDim: kvDim, d: d, group: group, length: length,
                               ranges: [0..<(heads / 2), (heads / 2)..<heads])
            XCTAssertFalse(wide.contains { !$0.isFinite }, label)
            XCTAssertLessThan(maxDiff(wide, expected), 1e-4, label)
            XCTAssertLessThan(maxDiff(wide, avx2), 1e-5, label)
            XCTAssertEqual(wide, split, label)
        }
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } }
}
