// Token-by-token decoding over a Q8_0 cache with head size 64 in grouped-query attention (the fixtures'
// head size 16 is not a whole Q8_0 block, so their Q8_0 caches fall back to F16 rows and never reach the
// Q8_0 kernels): the AVX-512 one-token path against the AVX2 one, and both against an F32 cache, over a
// context long enough for many of the AVX-512 path's 32-row blocks, on one and two threads.
import XCTest
import Checkpoints
import Kernels
@testable import Inference

final class Q8CacheDecodeTests: XCTestCase {
    let config = ModelConfig(
        architecture: .stablelm, vocabSize: 512, hiddenSize: 384, intermediateSize: 768, numLayers: 2, numHeads: 6, numKVHeads: 2,
        maxPositions: 512, norm: .layerNorm, normEps: 1e-5, rotaryDim: 16, ropeTheta: 10000, parallelResidual: false, qkvBias: true,
        outputBias: false, mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)

    /// The logits of 40 steps (fixed tokens) after a 150-token prompt.
    func steppedLogits(_ model: Model, kv: KVStorage, threads: Int) throws -> [Float] {
        let session = InferenceSession(model: model, batchSize: 64, threads: threads, kvType: kv)
        XCTAssertEqual(session.cache.storage, kv)
        _ = try session.forward((0..<150).map { ($0 * 37 + 5) % config.vocabSize })
        var logits: [Float] = []
        for i in 0..<40 { logits += Array(try session.step((i * 53 + 11) % config.vocabSize)) }
        return logits
    }

    func testQ8_0DecodingOnAVX512MatchesAVX2AndStaysCloseToF32() throws {
        try XCTSkipUnless(KVStorage.attendOnAVX512, "this CPU has no AVX-512")
        defer { KVStorage.attendOnAVX512 = true }
        XCTAssertEqual(config.headDim, 64)
        let model = try Model.synthetic(config: config, target: .f32, seed: 5)
        for threads in [1, 2] {
            let f32 = try steppedLogits(model, kv: .f32, threads: threads)
            KVStorage.attendOnAVX512 = false
            let avx2 = try steppedLogits(model, kv: .q8_0, threads: threads)
            KVStorage.attendOnAVX512 = true
            let wide = try steppedLogits(model, kv: .q8_0, threads: threads)
            let toAVX2 = maxAbsDiff(wide[...], avx2[...]), toF32 = maxAbsDiff(wide[...], f32[...])
            print("threads \(threads): Q8_0 cache, AVX-512 vs AVX2 max |Δ| logits \(toAVX2), vs F32 cache \(toF32)")
            XCTAssertLessThan(toAVX2, 1e-4, "threads \(threads)")   // measured 2.3e-6
            XCTAssertLessThan(toF32, 0.1, "threads \(threads)")
        }
    }
}
