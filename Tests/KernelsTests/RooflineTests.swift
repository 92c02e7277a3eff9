// The bounds `hayai bench` divides by must be the machine's throughput, not a latency chain's.
import XCTest
import Kernels

final class RooflineTests: XCTestCase {
    /// The int8 bound issued 8 independent vpdpbusd chains, which on Zen 5 wait on each other's latency
    /// (~535 against ~575 G multiply-adds/s with more chains), so every share of it read ~7% high. The
    /// bound must be at least the best of the 8- and 24-chain loops, measured alternately here.
    func testTheInt8BoundIsTheFullIssueRateNotEightChainsLatency() throws {
        guard QuantizedMatrix.interleavingAvailable else { throw XCTSkip("no AVX512-VNNI on this CPU") }
        var eight = 0.0, wide = 0.0
        for _ in 0..<5 {
            eight = max(eight, Roofline.measureInt8MACs(threads: 1, chains: 8))
            wide = max(wide, Roofline.measureInt8MACs(threads: 1, chains: 24))
        }
        let bound = try XCTUnwrap(Roofline.int8MACs(threads: 1))
        XCTAssertGreaterThanOrEqual(bound, 0.97 * max(eight, wide),
                                    String(format: "bound %.0f G/s, 8 chains %.0f, 24 chains %.0f", bound / 1e9, eight / 1e9, wide / 1e9))
    }
}
