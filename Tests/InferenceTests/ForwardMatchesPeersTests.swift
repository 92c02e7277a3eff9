// The decoder against Hugging Face transformers' golden outputs (expected.json) for the three tiny
// checkpoints, loaded from the HF folder and from llama.cpp's f32 GGUF, and against llama.cpp's own
// logits for the Q8_0 file.
import XCTest
import Foundation
import Checkpoints
@testable import Inference
import Kernels
import TestSupport

struct GoldenPrompt {
    var name: String
    var ids: [Int]
    var lastLogits: [Float]
    var top5: [[Int]]
    var logprobs: [Float]
    var greedy: [Int]

    static func load(_ fixture: String) throws -> [GoldenPrompt] {
        let root = try Fixtures.json(Fixtures.fixture("\(fixture)/expected.json")) as! [String: Any]
        let prompts = root["prompts"] as! [String: Any]
        return prompts.keys.sorted().map { name in
            let p = prompts[name] as! [String: Any]
            let floats = { (key: String) in (p[key] as! [NSNumber]).map { $0.floatValue } }
            return GoldenPrompt(
                name: name, ids: (p["ids"] as! [NSNumber]).map(\.intValue), lastLogits: floats("last_position_logits"),
                top5: (p["top5_per_position"] as! [[String: Any]]).map { ($0["ids"] as! [NSNumber]).map(\.intValue) },
                logprobs: floats("teacher_forced_logprobs"),
                greedy: ((p["greedy_16"] as! [String: Any])["new_ids"] as! [NSNumber]).map(\.intValue))
        }
    }
}

func maxAbsDiff(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

func topK(_ row: ArraySlice<Float>, _ k: Int) -> [Int] {
    row.indices.sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }.prefix(k).map { $0 - row.startIndex }
}

final class ForwardMatchesPeersTests: XCTestCase {
    static let fixtures = ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"]

    func checkAgainstTransformers(fixture: String, modelPath: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Model.load(path: modelPath.path)
        let vocab = model.config.vocabSize
        for prompt in try GoldenPrompt.load(fixture) {
            let session = InferenceSession(model: model)
            let logits = try session.forward(prompt.ids, logits: .all)
            let n = prompt.ids.count
            XCTAssertEqual(logits.count, n * vocab)
            let last = logits[(n - 1) * vocab..<n * vocab]
            XCTAssertLessThan(maxAbsDiff(last, prompt.lastLogits[...]), 1e-4, "\(fixture) \(prompt.name) last logits", file: file, line: line)
            for pos in 0..<n {
                let row = logits[pos * vocab..<(pos + 1) * vocab]
                XCTAssertEqual(topK(row, 5), prompt.top5[pos], "\(fixture) \(prompt.name) top-5 at \(pos)", file: file, line: line)
                if pos + 1 < n {
                    let lp = logSoftmax(row)[prompt.ids[pos + 1]]
                    XCTAssertEqual(lp, prompt.logprobs[pos], accuracy: 1e-4, "\(fixture) \(prompt.name) log-prob at \(pos)", file: file, line: line)
                }
            }
            // Greedy decoding through the KV cache, one token at a time.
            var next = topK(last, 1)[0]
            var generated: [Int] = []
            for _ in 0..<prompt.greedy.count {
                generated.append(next)
                let step = try session.step(next)
                next = topK(Array(step)[...], 1)[0]
            }
            XCTAssertEqual(generated, prompt.greedy, "\(fixture) \(prompt.name) greedy tokens", file: file, line: line)
        }
    }

    func testHuggingFaceFoldersMatchTransformers() throws {
        for f in Self.fixtures { try checkAgainstTransformers(fixture: f, modelPath: Fixtures.fixture(f)) }
    }

    func testF32GGUFFilesMatchTransformers() throws {
        for f in Self.fixtures { try checkAgainstTransformers(fixture: f, modelPath: Fixtures.fixture("\(f).f32.gguf")) }
    }

    func testQ8_0GGUFMatchesLlamaCpp() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path)
        let rowLayout = try Model.load(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path, interleave: false)
        // Where the CPU has AVX512-VNNI the matrices run interleaved (QuantizedMatrix.interleaved()).
        XCTAssertEqual(model.weights.layers[0].mlp.up.weight.isInterleaved, QuantizedMatrix.interleavingAvailable)
        XCTAssertEqual(model.weights.output.isInterleaved, QuantizedMatrix.interleavingAvailable)
        XCTAssertFalse(model.weights.embedding.isInterleaved, "the untied embedding keeps the GGUF layout for row lookups")
        XCTAssertFalse(rowLayout.weights.layers[0].mlp.up.weight.isInterleaved)
        let vocab = model.config.vocabSize
        for prompt in try GoldenPrompt.load("stablelm-tiny") {
            // Both layouts compute the same integer dots; only the order of float additions differs.
            let rows = try InferenceSession(model: rowLayout).forward(prompt.ids, logits: .all)
            XCTAssertLessThan(maxAbsDiff(try InferenceSession(model: model).forward(prompt.ids, logits: .all)[...], rows[...]), 1e-3)
            let expected = try NpyArray(url: Fixtures.fixture("llamacpp_out/stablelm-tiny.q8_0.kvf32.logits.\(prompt.name).npy"))
            XCTAssertEqual(expected.shape, [prompt.ids.count, vocab])
            let logits = try InferenceSession(model: model).forward(prompt.ids, logits: .all)
            let packed = maxAbsDiff(logits[...], expected.values[...])
            let dequantized = try InferenceSession(model: Model.load(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path, dequantize: true))
                .forward(prompt.ids, logits: .all)
            print("stablelm-tiny q8_0 \(prompt.name): max |Δ| to llama.cpp packed \(packed), dequantized \(maxAbsDiff(dequantized[...], expected.values[...]))")
            XCTAssertLessThan(packed, 0.15, "q8_0 \(prompt.name) all positions")
        }
    }

    func testTokenByTokenEqualsBatchedPrompt() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny-gqa-bias-parallel").path)
        let ids = try GoldenPrompt.load("stablelm-tiny-gqa-bias-parallel")[0].ids
        let batched = try InferenceSession(model: model).forward(ids, logits: .all)
        let session = InferenceSession(model: model, batchSize: 7)   // chunks of 7: mixes batched and cached positions
        let chunked = try session.forward(ids, logits: .all)
        XCTAssertLessThan(maxAbsDiff(batched[...], chunked[...]), 1e-4)
        let single = InferenceSession(model: model)
        var last: [Float] = []
        for id in ids { last = Array(try single.step(id)) }
        let vocab = model.config.vocabSize
        XCTAssertLessThan(maxAbsDiff(last[...], batched[((ids.count - 1) * vocab)...]), 1e-4)
    }

    func testRewindRecomputesTheSameLogits() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny").path)
        let ids = try GoldenPrompt.load("stablelm-tiny")[0].ids
        let session = InferenceSession(model: model)
        let first = try session.forward(ids)
        session.rewind(to: 10)
        XCTAssertEqual(session.tokens, Array(ids.prefix(10)))
        let again = try session.forward(Array(ids[10...]))
        XCTAssertLessThan(maxAbsDiff(first[...], again[...]), 1e-5)
    }

    func testPromptLongerThanTheContextIsRejected() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny").path)
        let session = InferenceSession(model: model, contextLength: 16)
        XCTAssertThrowsError(try session.forward(Array(repeating: 5, count: 17))) { error in
            XCTAssertEqual("\(error)", "prompt needs 17 tokens but the context holds 16 (use a shorter prompt or a larger --ctx)")
        }
        XCTAssertEqual(session.position, 0, "a rejected prompt leaves the cache as it was")
        XCTAssertThrowsError(try session.forward([2000])) { XCTAssertTrue("\($0)".contains("outside the vocabulary")) }
    }
}
