// A small deterministic generator for weight initialisation and data shuffling: the same seed gives
// the same numbers on every machine (SplitMix64; normals by Box–Muller in Double).
import Foundation

public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spareNormal: Double?

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A draw from normal(mean, std).
    public mutating func normal(mean: Double = 0, std: Double = 1) -> Double {
        if let z = spareNormal { spareNormal = nil; return mean + std * z }
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2 * log(u1)).squareRoot()
        spareNormal = r * sin(2 * .pi * u2)
        return mean + std * r * cos(2 * .pi * u2)
    }
}
