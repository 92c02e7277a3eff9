// The KV cache stored as F16 or Q8_0 against the F32 cache and against llama.cpp's own logits with
// an F16 cache (-ctk f16 -ctv f16), on the tiny fixtures: batched prompts and token-by-token steps.
// Measured: F16 within 2.1e-3 of F32 (bound 5e-3), Q8_0 within 0.06 (bound 0.1; 8-bit keys with
// head size 16 are the worst case); F16 within 2.1e-3 of llama.cpp kvf16, which also rounds q and
// the attention weights to F16 (ggml converts the other operand of an F16 product).
import XCTest
import Foundation
import Kernels
@testable import Inference
import TestSupport

final class KVCacheTypeTests: XCTestCase {
    static let fixtures = ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"]

    /// Logits at every position: the prompt in chunks of 5 (cached and new positions mixed), then
    /// the last 4 tokens again one step at a time after a rewind.
    func logits(_ model: Model, _ ids: [Int], kv: KVStorage) throws -> (batched: [Float], stepped: [Float]) {
        let session = InferenceSession(model: model, batchSize: 5, kvType: kv)
        XCTAssertEqual(session.kvType, kv)
        let batched = try session.forward(ids, logits: .all)
        session.rewind(to: ids.count - 4)
        var stepped: [Float] = []
        for id in ids.suffix(4) { stepped += Array(try session.step(id)) }
        return (batched, stepped)
    }

    func testF16AndQ8_0CachesStayCloseToF32() throws {
        for f in Self.fixtures {
            let model = try Model.load(path: Fixtures.fixture(f).path)
            let vocab = model.config.vocabSize
            for prompt in try GoldenPrompt.load(f) {
                let ref = try logits(model, prompt.ids, kv: .f32)
                let n = prompt.ids.count
                XCTAssertLessThan(maxAbsDiff(ref.stepped[...], ref.batched[((n - 4) * vocab)...]), 1e-4)
                for (kv, bound) in [(KVStorage.f16, Float(5e-3)), (.q8_0, 0.1)] {
                    let got = try logits(model, prompt.ids, kv: kv)
                    let db = maxAbsDiff(got.batched[...], ref.batched[...]), ds = maxAbsDiff(got.stepped[...], ref.stepped[...])
                    print("\(f) \(prompt.name) kv \(kv): max |Δ| to F32 cache batched \(db), stepped \(ds)")
                    XCTAssertLessThan(db, bound, "\(f) \(prompt.name) \(kv) batched")
                    XCTAssertLessThan(ds, bound, "\(f) \(prompt.name) \(kv) stepped")
                }
            }
        }
    }

    func testF16CacheMatchesLlamaCppF16Cache() throws {
        for f in Self.fixtures {
            let model = try Model.load(path: Fixtures.fixture("\(f).f32.gguf").path)
            for prompt in try GoldenPrompt.load(f) {
                let expected = try NpyArray(url: Fixtures.fixture("llamacpp_out/\(f).f32.kvf16.logits.\(prompt.name).npy"))
                let got = try InferenceSession(model: model, kvType: .f16).forward(prompt.ids, logits: .all)
                let d = maxAbsDiff(got[...], expected.values[...])
                print("\(f) \(prompt.name): F16 cache, max |Δ| to llama.cpp kvf16 \(d)")
                XCTAssertLessThan(d, 5e-3, "\(f) \(prompt.name)")
            }
        }
    }

    func testQ8_0CacheFallsBackToF16WhenRowsAreNotWholeBlocks() {
        let cache = KVCache(layers: 1, contextLength: 4, kvDim: 48, storage: .q8_0)
        XCTAssertEqual(cache.storage, .f16)
        XCTAssertEqual(KVCache(layers: 1, contextLength: 4, kvDim: 64, storage: .q8_0).rowBytes, 68)
    }
}
