// A layer's q/k/v (and gate/up) products of quantized weights run as one job over the pool
// (DecoderForward.together); each output must still be what its Linear alone gives: the product, the
// LoRA update beside the weight and the bias, for one row and for several.
import XCTest
import Foundation
@testable import Inference
import Kernels
import TestSupport

final class TogetherProductsTests: XCTestCase {
    func testProductsRunTogetherEqualEachLinearAloneWithAdaptersAndBiases() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path, interleave: false)
        var state = UInt64(11)
        func noise(_ n: Int, _ amplitude: Float) -> [Float] {
            (0..<n).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return (Float((state >> 40) & 0xFFFF) / 32768 - 1) * amplitude
            }
        }
        // The layer's three projections, each given a bias and a LoRA adapter.
        let linears = model.weights.layers[0].linears.filter { [.q, .k, .v].contains($0.0) }.map { $0.1 }
        XCTAssertEqual(linears.count, 3)
        guard linears.allSatisfy({ if case .quantized = $0.weight { return true } else { return false } }) else {
            return XCTFail("the fixture's projections should be quantized")
        }
        let adapted = linears.map { l -> Linear in
            var out = Linear(weight: l.weight, bias: FloatTensor(values: noise(l.outFeatures, 0.5), shape: [l.outFeatures]))
            out.lora = LoRAAdapter(a: FloatTensor(values: noise(3 * l.inFeatures, 0.3), shape: [3, l.inFeatures]),
                                   b: FloatTensor(values: noise(l.outFeatures * 3, 0.3), shape: [l.outFeatures, 3]), scale: 2)
            return out
        }
        let rope = Ops.ropeTables(positions: 8, inverseFrequencies: model.config.ropeInverseFrequencies)
        try rope.cos.withUnsafeBufferPointer { cos in
            try rope.sin.withUnsafeBufferPointer { sin in
                let decoder = DecoderForward(plan: model.plan, ropeCos: cos.baseAddress!, ropeSin: sin.baseAddress!, pool: ThreadPool(threads: 2))
                for rows in [1, 5] {
                    let x = noise(rows * adapted[0].inFeatures, 1)
                    let outs = adapted.map { UnsafeMutablePointer<Float>.allocate(capacity: rows * $0.outFeatures) }
                    defer { outs.forEach { $0.deallocate() } }
                    var alone = adapted.map { [Float](repeating: 0, count: rows * $0.outFeatures) }
                    x.withUnsafeBufferPointer { x in
                        decoder.together(adapted[0], outs[0], adapted[1], outs[1], adapted[2], outs[2], input: x.baseAddress!, rows: rows)
                        for i in 0..<3 { alone[i].withUnsafeMutableBufferPointer { adapted[i](x.baseAddress!, t: rows, into: $0.baseAddress!) } }
                    }
                    let together = (0..<3).map { Array(UnsafeBufferPointer(start: outs[$0], count: rows * adapted[$0].outFeatures)) }
                    for i in 0..<3 {
                        for (a, b) in zip(together[i], alone[i]) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b)), "projection \(i), \(rows) rows") }
                    }
                }
            }
        }
    }
}
