// The one seeded random generator (SplitMix64): weight initialisation, data shuffles and splits,
// few-shot sampling, bootstrap resampling, and the seed of the sampler's generator. The same seed
// gives the same numbers on every machine and Swift version.
import Foundation

public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spareNormal: Double?

    public init(seed: UInt64) { state = seed }

    /// A generator for one item of a run, independent of which other items are run (so `limit`
    /// and resuming give the same draws).
    public init(seed: UInt64, stream: Int) {
        var mix = SeededRandom(seed: seed ^ (UInt64(truncatingIfNeeded: stream) &* 0x9E37_79B9_7F4A_7C15))
        state = mix.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// SplitMix64's finalizer: a well-mixed 64-bit function of `x` (also a hash step).
    public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A draw from normal(mean, std) (Box–Muller in Double).
    public mutating func normal(mean: Double = 0, std: Double = 1) -> Double {
        if let z = spareNormal { spareNormal = nil; return mean + std * z }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * log(u1)).squareRoot()
        spareNormal = r * sin(2 * .pi * u2)
        return mean + std * r * cos(2 * .pi * u2)
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
