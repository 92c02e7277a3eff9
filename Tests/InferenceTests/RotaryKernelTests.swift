// Rotary.forward's row kernel (CKernels hayai_rope_row, 16 lanes where the CPU has AVX-512) against
// Ops.rope, the scalar definition training's gradient checks use: the same bits, both pairings, full
// and partial rotary dimensions that leave scalar tails.
import XCTest
import CKernels
import Basics
import Checkpoints
@testable import Kernels
@testable import Inference

final class RotaryKernelTests: XCTestCase {
    func testRowKernelGivesOpsRopesBits() {
        var rng = SeededRandom(seed: 5)
        for (headDim, rotaryDim) in [(64, 64), (64, 24), (80, 20), (10, 10), (96, 96)] {
            let heads = 3, half = rotaryDim / 2, positions = 7
            let (cos, sin) = Ops.ropeTables(positions: positions, rotaryDim: rotaryDim, theta: 10000)
            for pairing in [RopeStyle.adjacent, .halves] {
                let x = (0..<positions * heads * headDim).map { _ in Float.random(in: -3...3, using: &rng) }
                var fast = x, plain = x
                cos.withUnsafeBufferPointer { c in
                    sin.withUnsafeBufferPointer { s in
                        fast.withUnsafeMutableBufferPointer { f in
                            Rotary.forward(f.baseAddress!, rows: positions, heads: heads, headDim: headDim, rotaryDim: rotaryDim,
                                           pairing: pairing, cos: c.baseAddress!, sin: s.baseAddress!, positions: .consecutive(from: 0))
                        }
                        plain.withUnsafeMutableBufferPointer { p in
                            for r in 0..<positions {
                                Ops.rope(p.baseAddress! + r * heads * headDim, heads: heads, headDim: headDim, rotaryDim: rotaryDim,
                                         cos: c.baseAddress! + r * half, sin: s.baseAddress! + r * half, adjacentPairs: pairing == .adjacent)
                            }
                        }
                    }
                }
                XCTAssertEqual(fast.map(\.bitPattern), plain.map(\.bitPattern), "\(pairing) headDim \(headDim) rotaryDim \(rotaryDim)")
                XCTAssertNotEqual(fast, x)
            }
        }
    }
}
