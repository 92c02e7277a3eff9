// The bounds `hayai bench` divides by must be the machine's throughput, not a latency chain's.
import XCTest
import Kernels

final class RooflineTests: XCTestCase {
    /// The int8 bound issued 8 independent vpdpbusd chains, which on Zen 5 wait on each other's latency
    /// (~535 against ~575 G multiply-adds/s with more chains), so every share of it read ~7% high. The
    /// probe the bound uses must reach the best of the 8- and 24-chain loops; the three are measured
    /// alternately, best of five rounds each, so that a busy moment lowers none of them alone.
    func testTheInt8BoundIsTheFullIssueRateNotEightChainsLatency() throws {
        guard QuantizedMatrix.interleavingAvailable else { throw XCTSkip("no AVX512-VNNI on this CPU") }
        var bound = 0.0, eight = 0.0, wide = 0.0
        for _ in 0..<5 {
            bound = max(bound, Roofline.measureInt8MACs(threads: 1, chains: Roofline.int8PeakChains))
            eight = max(eight, Roofline.measureInt8MACs(threads: 1, chains: 8))
            wide = max(wide, Roofline.measureInt8MACs(threads: 1, chains: 24))
        }
        XCTAssertGreaterThanOrEqual(bound, 0.97 * max(eight, wide),
                                    String(format: "bound's probe %.0f G/s, 8 chains %.0f, 24 chains %.0f", bound / 1e9, eight / 1e9, wide / 1e9))
        XCTAssertNotNil(Roofline.int8MACs(threads: 1))
    }
}
