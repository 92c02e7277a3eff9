// Log-likelihood scoring through the LanguageModel interface, against transformers' per-token
// log-probabilities of the lm-eval-style (context, continuation) pairs in expected.json.
import XCTest
import Foundation
@testable import Inference
import TestSupport

final class ScoringTests: XCTestCase {
    func testContinuationScoresMatchTransformers() throws {
        for fixture in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            let lm = try LocalLanguageModel(path: Fixtures.fixture(fixture).path)
            let root = try Fixtures.json(Fixtures.fixture("\(fixture)/expected.json")) as! [String: Any]
            for pair in root["loglikelihood"] as! [[String: Any]] {
                let context = (pair["context_ids"] as! [NSNumber]).map(\.intValue)
                let continuation = (pair["continuation_ids"] as! [NSNumber]).map(\.intValue)
                let expected = (pair["per_token_logprobs"] as! [NSNumber]).map(\.floatValue)
                // Score it next to a decoy continuation: the shared context must not leak between them.
                let scores = try lm.score(context: context, continuations: [Array(continuation.reversed()), continuation])
                let s = scores[1]
                XCTAssertEqual(s.tokenLogProbs.count, expected.count)
                for (a, b) in zip(s.tokenLogProbs, expected) { XCTAssertEqual(a, b, accuracy: 1e-4, "\(fixture) \(pair["name"]!)") }
                XCTAssertEqual(s.logLikelihood, (pair["loglikelihood"] as! NSNumber).doubleValue, accuracy: 1e-3)
                XCTAssertEqual(s.isGreedy, pair["is_greedy"] as? Bool)
            }
        }
    }

    func testScoringAgainReusesTheCacheAndGivesTheSameNumbers() throws {
        let lm = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path)
        let context = [5, 6, 7, 8, 9, 10], choices = [[11, 12], [13], [14, 15, 16]]
        let first = try lm.score(context: context, continuations: choices)
        let second = try lm.score(context: context, continuations: choices)
        // The second call recomputes only the last context token (a cached step instead of a batch): same numbers to float rounding.
        for (a, b) in zip(first, second) {
            XCTAssertEqual(a.logLikelihood, b.logLikelihood, accuracy: 1e-4)
            XCTAssertEqual(a.isGreedy, b.isGreedy)
        }
        XCTAssertEqual(lm.session.tokens, context)
    }
}
