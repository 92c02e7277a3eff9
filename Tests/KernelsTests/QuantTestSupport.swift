// Shared helpers for the quantization tests: a seeded generator, random rows, quantize/dequantize
// wrappers over byte arrays.
import Kernels

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Roughly normal values (sum of uniforms), with an occasional outlier as real weights have.
func randomRow(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in
        var s: Float = 0
        for _ in 0..<4 { s += Float.random(in: -1...1, using: &rng) }
        if Int.random(in: 0..<97, using: &rng) == 0 { s *= 4 }
        return s * scale
    }
}

func quantized(_ type: GGMLType, _ x: [Float]) throws -> [UInt8] {
    guard let size = type.byteCount(elements: x.count) else { throw QuantizeError.partialBlock(type, x.count) }
    var out = [UInt8](repeating: 0, count: size)
    try x.withUnsafeBufferPointer { src in
        try out.withUnsafeMutableBytes { dst in
            try quantizeReference(type, src.baseAddress!, dst.baseAddress!, count: x.count)
        }
    }
    return out
}

func dequantized(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> [Float] {
    var out = [Float](repeating: 0, count: count)
    try bytes.withUnsafeBytes { src in
        try out.withUnsafeMutableBufferPointer { dst in
            try dequantizeReference(type, src.baseAddress!, dst.baseAddress!, count: count)
        }
    }
    return out
}

func f16Bits(_ x: Float) -> (UInt8, UInt8) {
    let b = Float16(x).bitPattern
    return (UInt8(b & 0xFF), UInt8(b >> 8))
}

/// Random block bytes for a weight row: every code pattern is valid, only the half-float scales are
/// set to sane positive (or, for mins, signed) values so sums stay finite.
func randomBlocks(_ type: GGMLType, count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    let blocks = count / type.blockSize, size = type.bytesPerBlock
    var bytes = (0..<blocks * size).map { _ in UInt8.random(in: 0...255, using: &rng) }
    func setF16(_ offset: Int, _ v: Float) { let (lo, hi) = f16Bits(v); bytes[offset] = lo; bytes[offset + 1] = hi }
    for b in 0..<blocks {
        let o = b * size
        switch type {
        case .q8_0, .q4_0, .q5_0: setF16(o, Float.random(in: 0.001...0.05, using: &rng))
        case .q4_1, .q5_1, .q4_K, .q5_K:
            setF16(o, Float.random(in: 0.001...0.05, using: &rng))
            setF16(o + 2, Float.random(in: -0.5...0.5, using: &rng))
        case .q2_K:
            setF16(o + 80, Float.random(in: 0.001...0.05, using: &rng))
            setF16(o + 82, Float.random(in: -0.1...0.1, using: &rng))
        case .q6_K: setF16(o + 208, Float.random(in: 0.0001...0.005, using: &rng))
        case .q3_K: setF16(o + 108, Float.random(in: 0.0001...0.005, using: &rng))
        case .iq4_nl, .iq4_xs: setF16(o, Float.random(in: 0.0001...0.005, using: &rng))
        default: fatalError("no random blocks for \(type)")
        }
    }
    return bytes
}
