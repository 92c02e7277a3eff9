// A real trained model: SmolLM2-135M-Instruct (llama architecture, Q8_0 tied embeddings, Q4_1
// matrices) with its weights dequantized to f32, against Hugging Face transformers run on the same
// dequantized weights (fixtures/smollm2: hf_dequant_last_logits.safetensors, crosscheck_hf_dequant.json).
import XCTest
import Foundation
import Checkpoints
@testable import Inference
import TestSupport

final class SmolLM2Tests: XCTestCase {
    static var cachedModels: [Bool: Model] = [:]

    /// The model with its weights dequantized to Float32 (the reference path), or kept packed.
    static func model(dequantized: Bool = true) throws -> Model {
        if let m = cachedModels[dequantized] { return m }
        let url: URL
        do { url = try SmolLM2.ggufPath() } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip(e.description) }
            throw e
        }
        let m = try Model.load(path: url.path, dequantize: dequantized)
        cachedModels[dequantized] = m
        return m
    }

    struct Prompt { var name: String; var ids: [Int]; var hfGreedy: [Int] }

    static func prompts() throws -> [Prompt] {
        let expected = (try Fixtures.json(Fixtures.fixture("smollm2/expected.json")) as! [String: Any])["prompts"] as! [String: Any]
        let cross = (try Fixtures.json(Fixtures.fixture("smollm2/crosscheck_hf_dequant.json")) as! [String: Any])["prompts"] as! [String: Any]
        return expected.keys.sorted().map { name in
            let ids = ((expected[name] as! [String: Any])["ids"] as! [NSNumber]).map(\.intValue)
            let hf = ((cross[name] as! [String: Any])["hf_dequant_f32_vs_llamacpp_q4_1"] as! [String: Any])["hf_greedy_32_ids"] as! [NSNumber]
            return Prompt(name: name, ids: ids, hfGreedy: hf.map(\.intValue))
        }
    }

    func testConfigIsReadFromGGUFMetadata() throws {
        let c = try Self.model().config
        XCTAssertEqual(c.architecture, .llama)
        XCTAssertEqual([c.numLayers, c.hiddenSize, c.numHeads, c.numKVHeads, c.headDim, c.intermediateSize, c.vocabSize],
                       [30, 576, 9, 3, 64, 1536, 49152])
        XCTAssertTrue(c.tieWordEmbeddings)
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.ropeStyle, .adjacent)
    }

    func testDequantizedLogitsAndGreedyTokensMatchTransformers() throws {
        let model = try Self.model()
        let golden = try SafetensorsFile(path: Fixtures.fixture("smollm2/hf_dequant_last_logits.safetensors").path)
        for prompt in try Self.prompts() {
            let session = InferenceSession(model: model, contextLength: 256)
            let last = try session.forward(prompt.ids)
            let expected = try golden.floats(prompt.name)
            XCTAssertLessThan(maxAbsDiff(last[...], expected[...]), 1e-3, "\(prompt.name) last-position logits")
            var next = topK(last[...], 1)[0]
            var generated: [Int] = []
            for _ in 0..<prompt.hfGreedy.count {
                generated.append(next)
                next = topK(Array(try session.step(next))[...], 1)[0]
            }
            XCTAssertEqual(generated, prompt.hfGreedy, "\(prompt.name) greedy 32")
        }
    }
}

extension SmolLM2Tests {
    /// Packed Q4_1/Q8_0 weights with activations quantized as ggml does (Q8_1/Q8_0): the top-1 token
    /// of llama.cpp at the last prompt position, and its greedy tokens up to the first step whose
    /// top-1/top-2 margin in the fixture is below 1.0 (beyond that, rounding may flip the choice).
    func testQuantizedWeightsTrackLlamaCpp() throws {
        let model = try Self.model(dequantized: false)
        let golden = try SafetensorsFile(path: Fixtures.fixture("smollm2/last_logits.safetensors").path)
        let expected = (try Fixtures.json(Fixtures.fixture("smollm2/expected.json")) as! [String: Any])["prompts"] as! [String: Any]
        for prompt in try Self.prompts() {
            let session = try InferenceSession(model: model, runtime: RuntimeOptions(contextLength: 128))
            let last = try session.forward(prompt.ids)
            let llama = try golden.floats(prompt.name)
            print("SmolLM2 \(prompt.name): max |Δ| to llama.cpp's Q4_1 logits \(maxAbsDiff(last[...], llama[...]))")
            XCTAssertEqual(topK(last[...], 1), topK(llama[...], 1), "\(prompt.name) top-1")
            let greedy = (expected[prompt.name] as! [String: Any])["greedy_32"] as! [String: Any]
            let ids = (greedy["ids"] as! [NSNumber]).map(\.intValue)
            let margins = (greedy["top1_top2_margin_per_step"] as! [NSNumber]).map(\.doubleValue)
            let reliable = margins.firstIndex { $0 < 1.0 } ?? ids.count
            var next = topK(last[...], 1)[0], generated: [Int] = []
            for _ in 0..<reliable {
                generated.append(next)
                next = topK(Array(try session.step(next))[...], 1)[0]
            }
            XCTAssertEqual(generated, Array(ids.prefix(reliable)), "\(prompt.name) greedy tokens before the first small margin")
        }
    }

    func testPromptIdsEqualLlamaCppIncludingInlineChatMarkers() throws {
        let model = try Self.model()
        let tokenizer = try XCTUnwrap(model.tokenizer)
        let expected = (try Fixtures.json(Fixtures.fixture("smollm2/expected.json")) as! [String: Any])["prompts"] as! [String: Any]
        for (name, value) in expected {
            let p = value as! [String: Any]
            let text = p["prompt_text"] as! String
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: true), (p["ids"] as! [NSNumber]).map(\.intValue), name)
        }
    }

    func testGreedyGenerationNamesParis() throws {
        let lm = try LocalLanguageModel(model: Self.model(), runtime: RuntimeOptions(contextLength: 128))
        var options = GenerationOptions()
        options.sampling = .greedy
        options.maxTokens = 8
        let prompt = lm.tokenizer.encode("The capital of France is", addSpecialTokens: true)
        var streamed = ""
        let result = try lm.generate(prompt: prompt, options: options) { streamed += $0; return true }
        XCTAssertTrue(result.text.contains("Paris"), result.text)
        XCTAssertEqual(streamed, result.text)
        XCTAssertEqual(Array(result.generatedTokens.prefix(4)), [7042, 30, 198, 198])
    }
}
