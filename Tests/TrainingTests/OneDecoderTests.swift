// Training and inference run the one forward (Inference/Forward.swift): the same checkpoint gives the
// same logits through InferenceSession (KV cache, prompt in batches) and TrainingModel (saved
// activations), for every architecture and variant, from Hugging Face folders and from GGUF files
// (whose llama q/k rows and fused qkv rows the trainer turns back into Hugging Face's order).
import XCTest
import Foundation
import Checkpoints
import Inference
@testable import Training
import TestSupport

final class OneDecoderTests: XCTestCase {
    let tokens = [1, 17, 503, 99, 1200, 7, 7, 42, 1999, 3, 256, 64, 11]

    /// Logits of every position through both paths; the relative difference must stay at float rounding.
    func assertSameLogits(model: Model, store: ParameterStore, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        // Inference: the prompt in two batches (5 + 8 rows) so the cached path runs as well.
        let session = InferenceSession(model: model, contextLength: 64, batchSize: 5, threads: 2)
        let inference = try session.forward(tokens, logits: .all)
        let training = try TrainingModel(parameters: store, batchSize: 1, seqLen: tokens.count)
        try training.forward(tokens: tokens)
        XCTAssertEqual(inference.count, training.logits.count, label, file: file, line: line)
        let error = relativeError(training.logits, inference)
        XCTAssertLessThan(error, 2e-5, "\(label): logits differ between training and inference (relative \(error))", file: file, line: line)
        XCTAssertGreaterThan(inference.map(abs).max() ?? 0, 1e-3, "\(label): logits are trivially zero", file: file, line: line)
    }

    func testHuggingFaceFixturesGiveEqualLogitsInTrainingAndInference() throws {
        for name in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            let folder = Fixtures.fixture(name).path
            try assertSameLogits(model: Model.load(path: folder), store: ParameterStore.load(folder: folder), label: name)
        }
    }

    /// GGUF layouts: GPT-NeoX's fused qkv is blocked there; the trainer reorders it to HF's per-head rows.
    func testGGUFFixturesGiveEqualLogitsInTrainingAndInference() throws {
        for name in ["stablelm-tiny.f32.gguf", "stablelm-tiny-gqa-bias-parallel.f32.gguf", "gptneox-tiny.f32.gguf", "stablelm-tiny.q8_0.gguf"] {
            let path = Fixtures.fixture(name).path
            // Q8_0 runs dequantized on both sides (the trainer dequantizes; so does this inference model).
            let model = try Model.load(path: path, dequantize: true)
            let store = try ParameterStore(model: model)
            XCTAssertEqual(store.config.fusedQKV, model.config.fusedQKV.map { _ in .perHead }, name)
            try assertSameLogits(model: model, store: store, label: name)
        }
    }

    /// Llama with grouped-query attention and RMSNorm, from a random config: as a Hugging Face folder,
    /// and as a GGUF whose q/k rows are permuted for ggml's RoPE pairing.
    func testLlamaWithGQAGivesEqualLogitsFromFolderAndGGUF() throws {
        let config = TinyConfigs.llamaGGUF()
        let store = try ParameterStore(config: config)
        randomize(store, seed: 5, std: 0.2)
        let dir = Fixtures.temporaryDirectory("one-decoder-llama")
        defer { try? FileManager.default.removeItem(at: dir) }
        let folder = dir.appendingPathComponent("llama").path
        try CheckpointWriter(parameters: store, tokenizerFolder: Fixtures.fixture("stablelm-tiny").path).write(to: folder)
        try assertSameLogits(model: Model.load(path: folder), store: store, label: "llama folder")

        let gguf = dir.appendingPathComponent("llama.gguf").path
        try GGUFExport.quantize(input: folder, output: gguf, target: .f32)
        let fromGGUF = try Model.load(path: gguf)
        XCTAssertEqual(fromGGUF.config.ropeStyle, .adjacent)
        let reloaded = try ParameterStore(model: fromGGUF)
        XCTAssertEqual(reloaded.config.ropeStyle, .halves)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: reloaded.values, count: reloaded.count)),
                       Array(UnsafeBufferPointer(start: store.values, count: store.count)), "GGUF rows go back to HF order exactly")
        try assertSameLogits(model: fromGGUF, store: reloaded, label: "llama gguf")
    }

    /// Every variant switch on small random configs (awkward sizes), through a written folder.
    func testEveryVariantGivesEqualLogits() throws {
        let configs: [(String, ModelConfig)] = [
            ("stablelm sequential gqa qk-norm bias", TinyConfigs.stablelm(vocab: 2000)),
            ("stablelm parallel shared norm", TinyConfigs.stablelm(parallel: true, vocab: 2000)),
            ("stablelm tied, full rotary", TinyConfigs.stablelm(gqa: false, qkvBias: false, qkNorm: false, tied: true, rotaryDim: 6, vocab: 2000)),
            ("gpt_neox gelu_new", TinyConfigs.gptNeoX(tanh: true, vocab: 2000)),
            ("llama tied gqa", TinyConfigs.llama(vocab: 2000)),
        ]
        let dir = Fixtures.temporaryDirectory("one-decoder-variants")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, (label, config)) in configs.enumerated() {
            let store = try ParameterStore(config: config)
            randomize(store, seed: UInt64(20 + i), std: 0.3)
            let folder = dir.appendingPathComponent("m\(i)").path
            try CheckpointWriter(parameters: store).write(to: folder)
            try assertSameLogits(model: Model.load(path: folder), store: store, label: label)
        }
    }
}
