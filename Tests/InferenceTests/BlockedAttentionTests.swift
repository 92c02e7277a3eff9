// The blocked (flash-style) prompt attention against the full-score reference it replaced: random
// queries, keys and values of awkward sizes (rows that end mid-tile, a prefix already cached whose
// length is not a multiple of the key tile, grouped-query heads, head sizes that are not multiples
// of 16, a sliding window), for each KV storage type and on one and two threads; then whole models
// (partial rotary, GQA with biases and a parallel residual) on long random prompts in batches, so
// the cache already holds a prefix when the next batch attends.
import XCTest
import Foundation
import Basics
import CKernels
import Kernels
import Checkpoints
@testable import Inference
import TestSupport

final class BlockedAttentionTests: XCTestCase {
    /// Outputs of `calls` successive attends (rows each) through one cache, with the given kernel.
    func attendOutputs(kernel: CachedAttention.PromptKernel, storage: KVStorage, heads: Int, kvHeads: Int, d: Int, window: Int?,
                       calls: [Int], threads: Int, seed: UInt64, oneQueryBlocked: Bool = false, keyGrowth: Float = 0) -> [Float] {
        let total = calls.reduce(0, +), qDim = heads * d, kvDim = kvHeads * d
        var rng = SeededRandom(seed: seed)
        func random(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        // Large logits (|q·k| up to ~d) so the running maximum moves between key tiles.
        var q = random(total * qDim, 1.5), k = random(total * kvDim, 1.5)
        let v = random(total * kvDim, 1)
        // With keyGrowth, positive queries and keys that grow with their position: each query's scores rise along
        // the keys, so its running maximum keeps moving.
        if keyGrowth != 0 {
            q = q.map { abs($0) }
            for p in 0..<total { for e in 0..<kvDim { k[p * kvDim + e] += keyGrowth * Float(p) } }
        }
        let cache = KVCache(layers: 2, contextLength: total + 3, kvDim: kvDim, storage: storage)
        XCTAssertEqual(cache.storage, storage)
        let pool = ThreadPool(threads: threads)
        let attention = CachedAttention(cache: cache, heads: heads, kvHeads: kvHeads, headDim: d, slidingWindow: window,
                                        batch: calls.max()!, pool: pool)
        attention.promptKernel = kernel
        attention.oneQueryBlocked = oneQueryBlocked
        var out = [Float](repeating: .nan, count: total * qDim)
        var p0 = 0
        for rows in calls {
            q.withUnsafeBufferPointer { qb in k.withUnsafeBufferPointer { kb in v.withUnsafeBufferPointer { vb in
                out.withUnsafeMutableBufferPointer { ob in
                    attention.attend(q: qb.baseAddress! + p0 * qDim, k: kb.baseAddress! + p0 * kvDim, v: vb.baseAddress! + p0 * kvDim,
                                     rows: rows, layer: 1, start: p0, into: ob.baseAddress! + p0 * qDim)
                }
            } } }
            p0 += rows
            cache.count = p0
        }
        return out
    }

    /// The blocked kernel's AVX-512 products (32 columns a pass) give the AVX2 ones' results bit for bit:
    /// head sizes of one and two 32-column passes, one with a 16-column remainder, one padded (d = 20).
    func testAVX512ProductsEqualAVX2BitForBit() throws {
        try XCTSkipUnless(CachedAttention.blockedProductsOnAVX512, "this CPU has no AVX-512")
        defer { CachedAttention.blockedProductsOnAVX512 = true }
        for (heads, kvHeads, d, calls) in [(9, 3, 64, [45, 83]), (4, 2, 48, [103]), (6, 2, 20, [70, 33]), (2, 1, 32, [37])] {
            for storage in KVStorage.allCases where storage.rowBytes(kvHeads * d) != nil {
                CachedAttention.blockedProductsOnAVX512 = true
                let wide = attendOutputs(kernel: .blocked, storage: storage, heads: heads, kvHeads: kvHeads, d: d, window: nil, calls: calls,
                                         threads: 2, seed: 17)
                CachedAttention.blockedProductsOnAVX512 = false
                XCTAssertFalse(CachedAttention.blockedProductsOnAVX512)
                let narrow = attendOutputs(kernel: .blocked, storage: storage, heads: heads, kvHeads: kvHeads, d: d, window: nil, calls: calls,
                                           threads: 2, seed: 17)
                XCTAssertFalse(wide.contains { $0.isNaN })
                XCTAssertEqual(wide, narrow, "heads \(heads)/\(kvHeads) d \(d) \(storage)")
            }
        }
    }

    func testBlockedPromptAttentionMatchesFullScoresOnAwkwardShapes() {
        // (heads, kvHeads, d, window, rows per call): one call of 3 tiles + 7 rows; a prefix of 45 then
        // 83 rows (key tiles start mid-prefix); GQA 3:1 with d = 20 (not a multiple of 16); a sliding
        // window shorter than a key tile and one longer; single rows after a prompt go the one-token way.
        let cases: [(Int, Int, Int, Int?, [Int])] = [
            (2, 2, 32, nil, [103]),
            (4, 2, 16, nil, [45, 83]),
            (6, 2, 20, nil, [70, 33, 2]),
            (4, 4, 32, 37, [130]),
            (3, 1, 64, 90, [50, 81]),
        ]
        for (heads, kvHeads, d, window, calls) in cases {
            for storage in KVStorage.allCases where storage.rowBytes(kvHeads * d) != nil {
                for threads in [1, 2] {
                    let label = "heads \(heads)/\(kvHeads) d \(d) window \(String(describing: window)) calls \(calls) \(storage) t\(threads)"
                    let reference = attendOutputs(kernel: .fullScores, storage: storage, heads: heads, kvHeads: kvHeads, d: d,
                                                  window: window, calls: calls, threads: threads, seed: 7)
                    let blocked = attendOutputs(kernel: .blocked, storage: storage, heads: heads, kvHeads: kvHeads, d: d,
                                                window: window, calls: calls, threads: threads, seed: 7)
                    XCTAssertFalse(blocked.contains { !$0.isFinite }, label)
                    let diff = maxAbsDiff(blocked[...], reference[...])
                    XCTAssertLessThan(diff, 2e-5, label)
                }
            }
        }
    }

    /// Query tiles that end one short of, on, and one past the 32-row and 64-key tile edges (1, 31, 33, 63, 65, 200
    /// rows), alone and after a cached prefix of 37 (so key tiles start mid-prefix and most are whole, with no mask),
    /// for query groups of 1, 3 and 4 heads a kv head, causal and with windows of 45 (shorter than a key tile) and 100
    /// (a key tile wholly before the first query that the last query's window has partly left), on every cache type.
    /// One row goes through the blocked kernel too (oneQueryBlocked).
    func testBlockedMatchesFullScoresAtTileEdgesForEveryGroupAndCache() {
        let d = 32, kvHeads = 2
        var n = 0
        for rows in [1, 31, 33, 63, 65, 200] {
            for prefix in [0, 37] {
                for group in [1, 3, 4] {
                    for window in [nil, 45, 100] as [Int?] {
                        for storage in KVStorage.allCases where storage.rowBytes(kvHeads * d) != nil {
                            let calls = prefix > 0 ? [prefix, rows] : [rows], threads = 1 + n % 2
                            n += 1
                            let label = "rows \(rows) after \(prefix) group \(group) window \(String(describing: window)) \(storage) t\(threads)"
                            func run(_ kernel: CachedAttention.PromptKernel) -> [Float] {
                                attendOutputs(kernel: kernel, storage: storage, heads: group * kvHeads, kvHeads: kvHeads, d: d, window: window,
                                              calls: calls, threads: threads, seed: UInt64(n), oneQueryBlocked: rows == 1)
                            }
                            let reference = run(.fullScores), blocked = run(.blocked)
                            XCTAssertFalse(blocked.contains { !$0.isFinite }, label)
                            XCTAssertLessThan(maxAbsDiff(blocked[...], reference[...]), 2e-5, label)
                        }
                    }
                }
            }
        }
    }

    /// Scores that rise along the keys: by ~1 a key tile (the running maximum stays, P reaches up to 2^8 before
    /// it moves) and by ~40 (it moves at every tile, O rescaled; ~130 over the prompt, so a maximum that lagged
    /// by more than 2^128 allows would overflow), after a prefix and without, with a window.
    func testBlockedMatchesFullScoresWhenTheMaximumKeepsRising() {
        for growth: Float in [0.004, 0.15] {
            for (calls, window) in [([150], nil), ([70, 130], nil), ([200], 100)] as [([Int], Int?)] {
                for storage in [KVStorage.f32, .q8_0] {
                    let label = "growth \(growth) calls \(calls) window \(String(describing: window)) \(storage)"
                    func run(_ kernel: CachedAttention.PromptKernel) -> [Float] {
                        attendOutputs(kernel: kernel, storage: storage, heads: 6, kvHeads: 2, d: 32, window: window, calls: calls,
                                      threads: 2, seed: 5, keyGrowth: growth)
                    }
                    let reference = run(.fullScores), blocked = run(.blocked)
                    XCTAssertFalse(blocked.contains { !$0.isFinite }, label)
                    // Scores up to ~130 carry rounding errors of ~1e-5 in either path (float products, summed in other
                    // orders), so P does too: a looser bound than elsewhere, still far below a lost rescale.
                    XCTAssertLessThan(maxAbsDiff(blocked[...], reference[...]), growth > 0.01 ? 1e-4 : 2e-5, label)
                }
            }
        }
    }

    /// The prompt kernel's softmax works in base 2 (Q carries log2(e)): its 2^x is within 2e-7 of the true value
    /// relative to it on x ≤ 8 (a key tile may pass the running maximum by 8 before it moves; clamped at −125, so −∞
    /// gives a tiny positive number the mask then zeroes), and the AVX-512 version gives the AVX2 one's bits.
    func testPromptExp2IsAccurateAndTheSameOnAVX2AndAVX512() {
        var x = (0...200_000).map { 8 - 138 * Float($0) / 200_000 }
        x += [-.infinity, -0.0, 0, -1e30, -1 / 32, -0.5, -0.5000001, -124.5, -125.5]
        var wide = [Float](repeating: .nan, count: x.count), narrow = wide
        hayai_attend_prompt_exp2(x, &wide, Int32(x.count), 1)
        hayai_attend_prompt_exp2(x, &narrow, Int32(x.count), 0)
        var worst = 0.0
        for (xi, yi) in zip(x, narrow) {
            let expected = Foundation.exp2(Double(max(xi, -125)))
            worst = max(worst, abs(Double(yi) - expected) / expected)
        }
        XCTAssertLessThan(worst, 2e-7)
        XCTAssertEqual(narrow[x.count - 9], Float(Foundation.exp2(-125.0)))   // −∞
        XCTAssertEqual(narrow[x.count - 7], 1)
        XCTAssertEqual(wide.map(\.bitPattern), narrow.map(\.bitPattern))
    }

    /// The reference path really is another computation: a blocked kernel that ignored the mask
    /// (or the window) would differ from it by far more than the tolerance above.
    func testTheComparisonSeesTheMaskAndTheWindow() {
        let masked = attendOutputs(kernel: .blocked, storage: .f32, heads: 2, kvHeads: 2, d: 32, window: 37, calls: [100],
                                   threads: 1, seed: 7)
        let unwindowed = attendOutputs(kernel: .fullScores, storage: .f32, heads: 2, kvHeads: 2, d: 32, window: nil, calls: [100],
                                       threads: 1, seed: 7)
        XCTAssertGreaterThan(maxAbsDiff(masked[...], unwindowed[...]), 1e-2)
        // The first 37 rows see the same keys with or without the window.
        XCTAssertLessThan(maxAbsDiff(masked[..<(37 * 64)], unwindowed[..<(37 * 64)]), 2e-5)
    }

    func testModelsGiveTheSameLogitsWithBlockedAndFullScoreAttention() throws {
        for f in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel"] {
            let model = try Model.load(path: Fixtures.fixture(f).path)
            var rng = SeededRandom(seed: 3)
            let ids = (0..<150).map { _ in Int.random(in: 0..<model.config.vocabSize, using: &rng) }
            func logits(_ kernel: CachedAttention.PromptKernel) throws -> [Float] {
                // Batches of 64 rows (the third attends after 128 cached positions), then a prompt that
                // reuses a 70-token prefix of the cache and computes the rest.
                let session = InferenceSession(model: model, batchSize: 64, threads: 2)
                session.promptAttention = kernel
                var all = try session.forward(ids, logits: .all)
                session.rewind(to: 70)
                all += try session.forward(Array(ids[70...]), logits: .all)
                return all
            }
            let blocked = try logits(.blocked), reference = try logits(.fullScores)
            XCTAssertEqual(blocked.count, reference.count)
            let diff = maxAbsDiff(blocked[...], reference[...])
            print("\(f): blocked vs full-score attention, max |Δ| logits \(diff)")
            XCTAssertLessThan(diff, 1e-4, f)
        }
    }
}
