// A small deterministic generator (SplitMix64) for few-shot sampling and bootstrap resampling:
// the same seed gives the same draws on every machine and Swift version.
import Foundation

public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one item of a run, independent of which other items are run (so `limit`
    /// and resuming give the same prompts).
    public init(seed: UInt64, stream: Int) {
        var mix = SeededRandom(seed: seed ^ (UInt64(truncatingIfNeeded: stream) &* 0x9E37_79B9_7F4A_7C15))
        state = mix.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` distinct indices of 0..<population in the order drawn (like Python's random.sample).
    public mutating func sample(count: Int, from population: Int) -> [Int] {
        let k = min(count, population)
        var chosen: [Int] = [], seen = Set<Int>()
        while chosen.count < k {
            let i = Int.random(in: 0..<population, using: &self)
            if seen.insert(i).inserted { chosen.append(i) }
        }
        return chosen
    }
}
