// Packed scoring (an eval batch in one forward, LocalLanguageModel.score(batch:)) against scoring each
// request alone: the same log-likelihoods and greedy flags, whatever the requests share, on every
// fixture family, with an F32 and a Q8_0 KV cache, and with 1 and 2 threads.
import XCTest
import Foundation
@testable import Inference
import Kernels
import TestSupport

final class PackedScoringTests: XCTestCase {
    /// Requests of different lengths: two share a long prefix, one shares nothing with them, one has a
    /// one-token context, one an empty and a one-token continuation, and two are the same context.
    static let requests: [ScoringRequest] = [
        ScoringRequest(context: [5, 6, 7, 8, 9, 10, 11], continuations: [[12, 13], [14], [15, 16, 17]]),
        ScoringRequest(context: [5, 6, 7, 8, 20, 21], continuations: [[22, 23, 24], [25]]),
        ScoringRequest(context: [40, 41, 42, 43, 44, 45, 46, 47, 48], continuations: [[49, 50], [51, 52]]),
        ScoringRequest(context: [60], continuations: [[61, 62, 63, 64]]),
        ScoringRequest(context: [70, 71, 72], continuations: [[], [73]]),
        ScoringRequest(context: [5, 6, 7, 8, 9, 10, 11], continuations: [[30, 31]]),
    ]

    func assertSame(_ packed: [[ContinuationScore]], _ alone: [[ContinuationScore]], _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(packed.map(\.count), alone.map(\.count), what, file: file, line: line)
        for (i, (p, a)) in zip(packed, alone).enumerated() {
            for (c, (x, y)) in zip(p, a).enumerated() {
                XCTAssertEqual(x.tokenLogProbs.count, y.tokenLogProbs.count, "\(what) request \(i) choice \(c)", file: file, line: line)
                for (u, v) in zip(x.tokenLogProbs, y.tokenLogProbs) {
                    XCTAssertEqual(u, v, accuracy: 2e-4, "\(what) request \(i) choice \(c)", file: file, line: line)
                }
                XCTAssertEqual(x.logLikelihood, y.logLikelihood, accuracy: 1e-3, "\(what) request \(i) choice \(c)", file: file, line: line)
                XCTAssertEqual(x.isGreedy, y.isGreedy, "\(what) request \(i) choice \(c)", file: file, line: line)
            }
        }
    }

    func testPackedBatchScoresEqualEachRequestAloneOnEveryFamily() throws {
        for fixture in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            for threads in [1, 2] {
                var runtime = RuntimeOptions()
                runtime.threads = threads
                let lm = try LocalLanguageModel(path: Fixtures.fixture(fixture).path, runtime: runtime)
                let alone = try Self.requests.map { try lm.score(context: $0.context, continuations: $0.continuations) }
                let packed = try lm.score(batch: Self.requests)
                assertSame(packed, alone, "\(fixture), \(threads) threads")
                // The requests in another order get the same scores in that order: nothing is mixed up between items.
                let reversed = try lm.score(batch: Self.requests.reversed())
                assertSame(reversed.reversed(), alone, "\(fixture) reversed, \(threads) threads")
            }
        }
    }

    func testPackedScoringWithAQuantizedCacheMatchesItsOwnUnpackedScores() throws {
        var runtime = RuntimeOptions()
        runtime.kvType = .q8_0
        let lm = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path, runtime: runtime)
        let alone = try Self.requests.map { try lm.score(context: $0.context, continuations: $0.continuations) }
        assertSame(try lm.score(batch: Self.requests), alone, "q8_0 KV cache")
    }

    func testPackedRowsSpanningSeveralForwardChunksScoreTheSame() throws {
        // A session batch of 4 rows: every context and continuation is cut across chunks.
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny").path)
        let lm = try LocalLanguageModel(model: model)
        let small = try LocalLanguageModel(model: model, session: InferenceSession(model: model, batchSize: 4))
        let alone = try Self.requests.map { try lm.score(context: $0.context, continuations: $0.continuations) }
        assertSame(try small.score(batch: Self.requests), alone, "batch size 4")
    }

    func testSegmentsLongerThanOneRowBlockScoreTheSame() throws {
        // Contexts of 150 and 90 tokens after a shared 10: each runs as several query tiles (PackedAttention.queryTile)
        // and key tiles within one forward chunk, and the second item's rows start mid-tile.
        XCTAssertLessThan(PackedAttention.queryTile, 90)
        let shared = Array(1...10)
        let long = ScoringRequest(context: shared + (0..<140).map { ($0 * 37) % 1999 + 1 }, continuations: [[7, 8, 9], [10]])
        let other = ScoringRequest(context: shared + (0..<80).map { ($0 * 53) % 1999 + 1 }, continuations: [[11, 12], [13, 14, 15]])
        for threads in [1, 2] {
            var runtime = RuntimeOptions()
            runtime.threads = threads
            let lm = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny-gqa-bias-parallel").path, runtime: runtime)
            let alone = try [long, other].map { try lm.score(context: $0.context, continuations: $0.continuations) }
            lm.session.reset()
            assertSame(try lm.score(batch: [other, long]), alone.reversed(), "long segments, \(threads) threads")
        }
    }

    /// Few-shot eval items as a 3-shot task sends them: `count` items of `shared` + 30 + step·i tokens behind a
    /// shared description, each with short continuations.
    static func fewShotItems(shared n: Int, step: Int, count: Int = 5, vocabulary: Int = 1999) -> [ScoringRequest] {
        var state: UInt64 = 0x9E3779B97F4A7C15
        func token() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int(state >> 33) % vocabulary + 1 }
        let shared = (0..<n).map { _ in token() }
        return (0..<count).map { i in
            ScoringRequest(context: shared + (0..<(30 + step * i)).map { _ in token() },
                           continuations: [[token(), token(), token()], [token()], [token(), token()]])
        }
    }

    /// Packed and blocked against each item alone through the full-score attention (sgemm scores, masked
    /// softmax): the packed-against-alone tests above run the blocked kernel on both sides, so a defect it has
    /// everywhere would pass them.
    func assertPackedMatchesTheFullScoreReference(_ model: Model, _ requests: [ScoringRequest], _ what: String,
                                                  file: StaticString = #filePath, line: UInt = #line) throws {
        for threads in [1, 2] {
            var runtime = RuntimeOptions()
            runtime.threads = threads
            let reference = try LocalLanguageModel(model: model, runtime: runtime)
            reference.session.promptAttention = .fullScores
            let alone = try requests.map { r -> [ContinuationScore] in
                reference.session.reset()
                return try reference.score(context: r.context, continuations: r.continuations)
            }
            let lm = try LocalLanguageModel(model: model, runtime: runtime)
            assertSame(try lm.score(batch: requests), alone, "\(what), \(threads) threads", file: file, line: line)
        }
    }

    func testPackedFewShotItemsMatchTheFullScoreReference() throws {
        // 90-250 tokens behind a shared 60 (the fixture's context is 256).
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny-gqa-bias-parallel").path)
        try assertPackedMatchesTheFullScoreReference(model, Self.fewShotItems(shared: 60, step: 40), "tiny GQA fixture")
    }

    func testPackedFewShotItemsOnSmolLM2MatchTheFullScoreReference() throws {
        // SmolLM2's shape (9 heads of 64, 3 kv heads) at a JCommonsenseQA 3-shot prompt's length: 150-330 tokens
        // behind a shared 120. Its weights dequantized to Float32: with the Q4_1 weights every product quantizes
        // its input rows to 8 bits, and a difference at the rounding level (the blocked kernel against the
        // full-score one) flips some of those roundings and moves a log-likelihood by up to ~0.25 through 30 layers.
        let model = try SmolLM2Tests.model(dequantized: true)
        try assertPackedMatchesTheFullScoreReference(model, Self.fewShotItems(shared: 120, step: 45), "SmolLM2 (F32)")
    }

    func testAfterABatchTheCacheHoldsOnlyTheSharedPrefix() throws {
        let lm = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path)
        let a = ScoringRequest(context: [5, 6, 7, 8, 9], continuations: [[10, 11]])
        let b = ScoringRequest(context: [5, 6, 7, 20, 21], continuations: [[22]])
        _ = try lm.score(batch: [a, b])
        XCTAssertEqual(lm.session.tokens, [5, 6, 7])
        // A context that continues one of the packed ones is computed afresh past the shared prefix, and scores as alone.
        let next = try lm.score(context: [5, 6, 7, 8, 9, 10], continuations: [[11, 12]])
        let fresh = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path).score(context: [5, 6, 7, 8, 9, 10], continuations: [[11, 12]])
        assertSame([next], [fresh], "after a batch")
    }

    func testARequestTooLongToPackIsScoredAloneAndTheRestPacked() throws {
        var runtime = RuntimeOptions()
        runtime.contextLength = 16
        let lm = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path, runtime: runtime)
        // 10 context tokens + 3 continuations of 4: 19 packed rows do not fit 16, but each fits on its own.
        let long = ScoringRequest(context: Array(100..<110), continuations: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
        let batch = [Self.requests[0], long, Self.requests[1], Self.requests[2]]
        let alone = try batch.map { try lm.score(context: $0.context, continuations: $0.continuations) }
        assertSame(try lm.score(batch: batch), alone, "context 16")
    }
}
