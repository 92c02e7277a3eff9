// The blocked (flash-style) prompt attention against the full-score reference it replaced: random
// queries, keys and values of awkward sizes (rows that end mid-tile, a prefix already cached whose
// length is not a multiple of the key tile, grouped-query heads, head sizes that are not multiples
// of 16, a sliding window), for each KV storage type and on one and two threads; then whole models
// (partial rotary, GQA with biases and a parallel residual) on long random prompts in batches, so
// the cache already holds a prefix when the next batch attends.
import XCTest
import Basics
import Kernels
import Checkpoints
@testable import Inference
import TestSupport

final class BlockedAttentionTests: XCTestCase {
    /// Outputs of `calls` successive attends (rows each) through one cache, with the given kernel.
    func attendOutputs(kernel: CachedAttention.PromptKernel, storage: KVStorage, heads: Int, kvHeads: Int, d: Int, window: Int?,
                       calls: [Int], threads: Int, seed: UInt64) -> [Float] {
        let total = calls.reduce(0, +), qDim = heads * d, kvDim = kvHeads * d
        var rng = SeededRandom(seed: seed)
        func random(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        // Large logits (|q·k| up to ~d) so the running maximum moves between key tiles.
        let q = random(total * qDim, 1.5), k = random(total * kvDim, 1.5), v = random(total * kvDim, 1)
        let cache = KVCache(layers: 2, contextLength: total + 3, kvDim: kvDim, storage: storage)
        XCTAssertEqual(cache.storage, storage)
        let pool = ThreadPool(threads: threads)
        let attention = CachedAttention(cache: cache, heads: heads, kvHeads: kvHeads, headDim: d, slidingWindow: window,
                                        batch: calls.max()!, pool: pool)
        attention.promptKernel = kernel
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
