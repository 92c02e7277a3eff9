// Choosing the next token from logits, in llama.cpp's order: repetition penalty, top-k, top-p,
// min-p, temperature, then a draw from a seeded generator (or the argmax when temperature is 0).
import Basics
import Foundation

public struct SamplingParameters: Sendable, Equatable, Codable {
    /// 0 means greedy (argmax; ties go to the lowest id).
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens; 0 keeps all.
    public var topK: Int = 40
    /// Keep the smallest set whose probability reaches p; 1 keeps all.
    public var topP: Float = 0.95
    /// Drop tokens whose probability is below minP × the top probability; 0 keeps all.
    public var minP: Float = 0.05
    /// Divides positive logits (multiplies negative ones) of tokens seen in the last `repeatLastN`; 1 is off.
    public var repetitionPenalty: Float = 1.0
    public var repeatLastN: Int = 64
    public var seed: UInt64 = 0

    public init() {}

    public static var greedy: SamplingParameters {
        var p = SamplingParameters(); p.temperature = 0; return p
    }

    /// Checks ranges; the message names the option.
    public func validate() throws {
        func fail(_ s: String) -> InferenceError { .invalidSetting(s) }
        guard temperature >= 0, temperature.isFinite else { throw fail("temperature must be ≥ 0 (got \(temperature))") }
        guard topK >= 0 else { throw fail("top-k must be ≥ 0 (got \(topK))") }
        guard topP > 0, topP <= 1 else { throw fail("top-p must be in (0, 1] (got \(topP))") }
        guard minP >= 0, minP <= 1 else { throw fail("min-p must be in [0, 1] (got \(minP))") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else { throw fail("repeat-penalty must be > 0 (got \(repetitionPenalty))") }
        guard repeatLastN >= 0 else { throw fail("repeat-last-n must be ≥ 0 (got \(repeatLastN))") }
    }
}

/// xoshiro256** seeded through SplitMix64: fast, and the same sequence on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitmix = SeededRandom(seed: seed)
        s = (splitmix.next(), splitmix.next(), splitmix.next(), splitmix.next())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }

    /// Uniform in [0, 1).
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

public struct Sampler {
    public var parameters: SamplingParameters
    private var rng: SeededGenerator
    /// Candidate scratch, reused across calls: (id, logit).
    private var candidates: [(id: Int, logit: Float)] = []

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        self.rng = SeededGenerator(seed: parameters.seed)
    }

    /// Index of the largest logit (lowest id on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0, bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue { best = i; bestValue = logits[i] }
        return best
    }

    /// Picks the next token. `history` is every token so far (prompt and generated), for the penalty.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [Int]) -> Int {
        let p = parameters
        var penalized: [Int: Float] = [:]
        if p.repetitionPenalty != 1, p.repeatLastN > 0 {
            for id in history.suffix(p.repeatLastN) where penalized[id] == nil && id < logits.count {
                let l = logits[id]
                penalized[id] = l > 0 ? l / p.repetitionPenalty : l * p.repetitionPenalty
            }
        }
        if p.temperature <= 0 {
            if penalized.isEmpty { return Self.argmax(logits) }
            var best = 0, bestValue = -Float.infinity
            for i in 0..<logits.count {
                let v = penalized[i] ?? logits[i]
                if v > bestValue { best = i; bestValue = v }
            }
            return best
        }

        // top-k, best first (ties: lower id first). With k set, keep a sorted list of k by insertion:
        // one pass over the vocabulary instead of sorting it.
        candidates.removeAll(keepingCapacity: true)
        let before = { (a: (id: Int, logit: Float), b: (id: Int, logit: Float)) in a.logit != b.logit ? a.logit > b.logit : a.id < b.id }
        if p.topK > 0 && p.topK < logits.count {
            for i in 0..<logits.count {
                let c = (id: i, logit: penalized[i] ?? logits[i])
                if candidates.count == p.topK {
                    guard before(c, candidates[candidates.count - 1]) else { continue }
                    candidates.removeLast()
                }
                var at = candidates.count
                while at > 0 && before(c, candidates[at - 1]) { at -= 1 }
                candidates.insert(c, at: at)
            }
        } else {
            for i in 0..<logits.count { candidates.append((i, penalized[i] ?? logits[i])) }
            candidates.sort(by: before)
        }
        // probabilities of what is left (before temperature, as llama.cpp's top-p / min-p see them)
        var probs = softmax(candidates.map(\.logit), temperature: 1)
        if p.topP < 1 {
            var cumulative: Float = 0, keep = candidates.count
            for (i, q) in probs.enumerated() {
                cumulative += q
                if cumulative >= p.topP { keep = i + 1; break }
            }
            candidates.removeLast(candidates.count - keep)
            probs.removeLast(probs.count - keep)
        }
        if p.minP > 0, let top = probs.first {
            let threshold = top * p.minP
            let keep = max(1, probs.firstIndex { $0 < threshold } ?? probs.count)
            candidates.removeLast(candidates.count - keep)
        }
        let final = softmax(candidates.map(\.logit), temperature: p.temperature)
        let u = Float(rng.nextUnit())
        var cumulative: Float = 0
        for (i, q) in final.enumerated() {
            cumulative += q
            if u < cumulative { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }

    private func softmax(_ logits: [Float], temperature: Float) -> [Float] {
        guard let m = logits.max() else { return [] }
        var e = logits.map { expf(($0 - m) / temperature) }
        let sum = e.reduce(0, +)
        for i in e.indices { e[i] /= sum }
        return e
    }
}
