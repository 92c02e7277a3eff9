// Scoring on a quantized model does not depend on how rows are grouped into forwards: an eval item packed
// with others (LocalLanguageModel.score(batch:)) scores as it does alone, whether its prefix was cached
// or computed with it, on 1 or 2 threads, in the interleaved and the GGUF row layout, and with a LoRA
// adapter beside the weights. On quantized weights every activation is rounded to int8, so a difference
// in the last bit of one row (a one-token attention pass, sgemm for many rows against integer dots for
// few) flips roundings further on and moved log-likelihoods by 0.01–0.5 nats on SmolLM2 Q4_1.
import XCTest
import Foundation
@testable import Inference
import Checkpoints
import Kernels
import TestSupport

final class BatchInvariantScoringTests: XCTestCase {
    /// JCommonsenseQA-like requests in SmolLM2's vocabulary: a shared 40-token prefix, contexts with 70–130
    /// tokens of their own (past Q4_1's 64-row crossover to sgemm in the row layout), choices of 1–5 tokens
    /// (a two-token choice runs a one-token forward alone), one context that is another's plus a token.
    static func requests() -> [ScoringRequest] {
        var state = UInt64(2024)
        func token() -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % 40000) + 100 }
        let shared = (0..<40).map { _ in token() }
        var requests = (0..<3).map { i in
            ScoringRequest(context: shared + (0..<(70 + 30 * i)).map { _ in token() },
                           continuations: (0..<4).map { c in (0..<(1 + (c + i) % 5)).map { _ in token() } })
        }
        requests.append(ScoringRequest(context: requests[0].context + [token()], continuations: [[token(), token()], [token()]]))
        return requests
    }

    func assertSame(_ a: [[ContinuationScore]], _ b: [[ContinuationScore]], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.map(\.count), b.map(\.count), what, file: file, line: line)
        for (i, (p, q)) in zip(a, b).enumerated() {
            for (c, (x, y)) in zip(p, q).enumerated() {
                XCTAssertEqual(x.logLikelihood, y.logLikelihood, accuracy: 1e-4, "\(what): request \(i) choice \(c)", file: file, line: line)
                XCTAssertEqual(x.isGreedy, y.isGreedy, "\(what): request \(i) choice \(c)", file: file, line: line)
            }
        }
    }

    func check(_ model: Model, _ what: String) throws {
        let requests = Self.requests()
        var reference: [[ContinuationScore]]?
        for threads in [2, 1] {
            var runtime = RuntimeOptions()
            runtime.threads = threads
            let lm = try LocalLanguageModel(model: model, runtime: runtime)
            let alone = try requests.map { r -> [ContinuationScore] in
                lm.session.reset()
                return try lm.score(context: r.context, continuations: r.continuations)
            }
            // One after the other: each context reuses what the cache holds of the one before.
            lm.session.reset()
            let followed = try requests.map { try lm.score(context: $0.context, continuations: $0.continuations) }
            lm.session.reset()
            let packed = try lm.score(batch: requests)
            lm.session.reset()
            let reversed = Array(try lm.score(batch: requests.reversed()).reversed())
            assertSame(followed, alone, "\(what), \(threads) threads, cached prefixes")
            assertSame(packed, alone, "\(what), \(threads) threads, packed")
            assertSame(reversed, alone, "\(what), \(threads) threads, packed in reverse")
            if let reference { assertSame(alone, reference, "\(what), 1 thread against 2") } else { reference = alone }
            // Generation keeps its faster one-token pass: the switch is on only while scoring.
            XCTAssertFalse(lm.session.batchInvariant)
        }
    }

    func testAQuantizedModelScoresTheSameAloneAndPacked() throws {
        let model = try Model.load(path: try SmolLM2.ggufPath().path)
        try check(model, "SmolLM2 Q4_1")
    }

    func testTheGGUFRowLayoutScoresTheSameAloneAndPacked() throws {
        let model = try Model.load(path: try SmolLM2.ggufPath().path, interleave: false)
        try check(model, "SmolLM2 Q4_1, row layout")
    }

    func testABaseWithAnAdapterScoresTheSameAloneAndPacked() throws {
        let base = try Model.load(path: try SmolLM2.ggufPath().path)
        var state = UInt64(7)
        func noise(_ n: Int, _ amplitude: Float) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float((state >> 40) & 0xFFFF) / 32768 - 1) * amplitude
            }
        }
        var adapters: [WeightKey: LoRAAdapter] = [:]
        for l in 0..<base.config.numLayers {
            for (role, linear) in base.weights.layers[l].linears {
                let rank = 4
                adapters[WeightKey(role, l)] = LoRAAdapter(a: FloatTensor(values: noise(rank * linear.inFeatures, 0.05), shape: [rank, linear.inFeatures]),
                                                          b: FloatTensor(values: noise(linear.outFeatures * rank, 0.05), shape: [linear.outFeatures, rank]),
                                                          scale: 2)
            }
        }
        let model = Model(config: base.config, weights: base.weights.attaching(adapters), path: base.path, sources: base.sources,
                          tokenizer: base.tokenizer, interleave: false)
        try check(model, "SmolLM2 Q4_1 + LoRA")
    }
}
