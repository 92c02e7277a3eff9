// The sampler's filters and its seeded draws, on hand-made logits.
import XCTest
@testable import Inference

final class SamplerTests: XCTestCase {
    func sample(_ logits: [Float], _ configure: (inout SamplingParameters) -> Void, history: [Int] = [], draws: Int = 1) -> [Int] {
        var p = SamplingParameters()
        configure(&p)
        var sampler = Sampler(p)
        return (0..<draws).map { _ in logits.withUnsafeBufferPointer { sampler.sample($0, history: history) } }
    }

    func testGreedyTakesTheArgmaxAndTheLowestIdOnTies() {
        XCTAssertEqual(sample([0.1, 3, 3, -1], { $0.temperature = 0 }), [1])
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        // token 0 (logit 2.0) seen: 2.0 / 2.5 = 0.8 < 1.0, so token 1 wins.
        XCTAssertEqual(sample([2.0, 1.0], { $0.temperature = 0; $0.repetitionPenalty = 2.5 }, history: [0]), [1])
        // token 1 (logit -0.5) seen: -0.5 * 4 = -2 < -1.5, so token 2 wins.
        XCTAssertEqual(sample([-3, -0.5, -1.5], { $0.temperature = 0; $0.repetitionPenalty = 4 }, history: [1]), [2])
        // only the last repeatLastN tokens count
        XCTAssertEqual(sample([2.0, 1.0], { $0.temperature = 0; $0.repetitionPenalty = 2.5; $0.repeatLastN = 1 }, history: [0, 1]), [0])
    }

    func testTopKOneIsGreedyWhateverTheTemperature() {
        let draws = sample([0.5, 2.0, 1.9, 1.8], { $0.temperature = 5; $0.topK = 1; $0.minP = 0; $0.topP = 1 }, draws: 50)
        XCTAssertEqual(Set(draws), [1])
    }

    func testTopPKeepsTheSmallestSetReachingP() {
        // probabilities ≈ 0.665, 0.245, 0.090: p = 0.8 keeps the first two.
        let draws = sample([2, 1, 0], { $0.temperature = 1; $0.topK = 0; $0.minP = 0; $0.topP = 0.8 }, draws: 400)
        XCTAssertEqual(Set(draws), [0, 1])
    }

    func testMinPDropsUnlikelyTokens() {
        // p(2)/p(0) = e^-2 ≈ 0.135 < 0.2: dropped; p(1)/p(0) ≈ 0.37 kept.
        let draws = sample([2, 1, 0], { $0.temperature = 1; $0.topK = 0; $0.topP = 1; $0.minP = 0.2 }, draws: 400)
        XCTAssertEqual(Set(draws), [0, 1])
    }

    func testDrawFrequenciesFollowTheSoftmax() {
        let draws = sample([0, log(3)], { $0.temperature = 1; $0.topK = 0; $0.topP = 1; $0.minP = 0 }, draws: 4000)
        let ones = Double(draws.filter { $0 == 1 }.count) / 4000
        XCTAssertEqual(ones, 0.75, accuracy: 0.03)
    }

    func testTheSameSeedGivesTheSameDrawsAndAnotherSeedDoesNot() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        let a = sample(logits, { $0.seed = 7; $0.topK = 0; $0.minP = 0 }, draws: 64)
        let b = sample(logits, { $0.seed = 7; $0.topK = 0; $0.minP = 0 }, draws: 64)
        let c = sample(logits, { $0.seed = 8; $0.topK = 0; $0.minP = 0 }, draws: 64)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
    }

    func testTopKSelectionEqualsAFullSort() {
        var rng = SeededGenerator(seed: 3)
        let logits = (0..<1000).map { _ in Float(rng.nextUnit() * 10) }
        // With top-k 5 and a very low temperature only the best survives; with temperature 1 only the top 5 appear.
        let best = logits.indices.max { logits[$0] < logits[$1] }!
        XCTAssertEqual(Set(sample(logits, { $0.topK = 5; $0.temperature = 1e-6; $0.minP = 0; $0.topP = 1 }, draws: 20)), [best])
        let top5 = Set(logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5))
        let drawn = Set(sample(logits, { $0.topK = 5; $0.temperature = 1; $0.minP = 0; $0.topP = 1 }, draws: 300))
        XCTAssertTrue(drawn.isSubset(of: top5))
        XCTAssertGreaterThan(drawn.count, 1)
    }

    func testInvalidSettingsAreRejectedWithTheOptionName() {
        var p = SamplingParameters()
        p.topP = 0
        XCTAssertThrowsError(try p.validate()) { XCTAssertTrue("\($0)".contains("top-p")) }
        p = SamplingParameters(); p.temperature = -1
        XCTAssertThrowsError(try p.validate()) { XCTAssertTrue("\($0)".contains("temperature")) }
    }

    func testStopStringHelpers() {
        XCTAssertEqual(heldBack("Hello <|im", ["<|im_end|>"]), 4)
        XCTAssertEqual(heldBack("Hello", ["<|im_end|>"]), 0)
        XCTAssertEqual(heldBack("ab\n\n#", ["\n\n###"]), 3)
        let text = "answer.\nUser: next"
        let (range, stop) = firstStop(in: text, ["User:", "\n"])!
        XCTAssertEqual(stop, "\n")
        XCTAssertEqual(String(text[..<range.lowerBound]), "answer.")
    }
}
