// Each block format's reference dequantization against gguf-py's (llama.cpp's Python port of ggml's
// dequantizers), on random blocks: every bit pattern of the codes, sub-block scales and high bits.
import TestSupport
import XCTest
import Kernels

final class QuantGGUFPyTests: XCTestCase {
    /// Every weight type hayai multiplies; a type added to QuantizedDot.supportedTypes fails here until
    /// `randomBlocks` can write it and its dequantization matches gguf-py's.
    func testReferenceDequantizationMatchesGGUFPy() throws {
        for type in QuantizedDot.supportedTypes {
            let count = 4 * 256
            let bytes = randomBlocks(type, count: count, seed: 0x6767_7566 &+ UInt64(type.rawValue))
            let ours = try dequantized(type, bytes, count: count)
            let theirs = try GGUFPy.dequantize(type.description, bytes)
            XCTAssertEqual(theirs.count, count, "\(type)")
            guard theirs.count == count else { continue }
            let scale = max(ours.map(abs).max() ?? 0, 1e-30)
            var worst: Float = 0
            for i in 0..<count { worst = max(worst, abs(ours[i] - theirs[i]) / scale) }
            XCTAssertLessThanOrEqual(worst, 1e-6, "\(type): largest difference from gguf-py, relative to the largest value")
        }
    }
}
