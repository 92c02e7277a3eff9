// Checkpoints written by training read back: Inference loads the folder and gives the training
// forward's logits, the config resolves to the same model, and the tensors round-trip exactly.
import XCTest
import Foundation
import Checkpoints
import Kernels
import Inference
@testable import Training
import TestSupport

final class CheckpointWriterTests: XCTestCase {
    /// A checkpoint of a large model (with its optimizer state) is written from the parameters and
    /// moments in place: writing a full fine-tune's folder once held a second copy of every tensor,
    /// 0.5 GB over the memory `train sft` had estimated for SmolLM2-135M.
    func testWritingACheckpointHoldsNoCopyOfTheParameters() throws {
        let store = try ParameterStore(config: TinyConfigs.stablelm(vocab: 500_000))   // ~18M floats, 72 MB
        let optimizer = AdamW(parameters: store)
        let dir = Fixtures.temporaryDirectory("hayai-ckpt-peak")
        defer { try? FileManager.default.removeItem(at: dir) }
        for dtype in [GGMLType.f32, .bf16] {
            var writer = CheckpointWriter(parameters: store)
            writer.optimizer = optimizer
            writer.dtype = dtype
            let out = dir.appendingPathComponent("c-\(dtype)").path
            guard let increase = try ResidentPeak.increase(during: { try writer.write(to: out) }) else {
                throw XCTSkip("no /proc/self/clear_refs")
            }
            XCTAssertLessThan(increase, 24 << 20, "\(dtype): writing \((store.count * 4) >> 20) MiB of parameters and twice that of moments raised the peak by \(increase >> 20) MiB")
            let reloaded = try SafetensorsFile(path: out + "/model.safetensors")
            XCTAssertEqual(try reloaded.info("model.embed_tokens.weight").type, dtype)
        }
    }

    /// Trains one step (so the weights differ from the source), writes, and reads back.
    func roundTrip(_ store: ParameterStore, tokenizerFolder: String?, label: String) throws {
        let fixture = try GradientFixture(GradientFixture.stablelm)
        let tokens = fixture.inputIDs.map { $0 % store.config.vocabSize }
        let model = try TrainingModel(parameters: store, batchSize: fixture.batch, seqLen: fixture.seqLen)
        try Trainer(model: model, optimizer: AdamW(parameters: store), schedule: .constant(1e-2)).step([MicroBatch(tokens: tokens)])
        try model.forward(tokens: tokens)
        let trainingLogits = Array(model.logits)

        let dir = Fixtures.temporaryDirectory("hayai-ckpt")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("checkpoint").path
        var writer = CheckpointWriter(parameters: store, tokenizerFolder: tokenizerFolder)
        writer.padTokenID = 1
        let optimizer = AdamW(parameters: store)
        optimizer.expAvg[3] = 0.25
        writer.optimizer = optimizer
        try writer.write(to: out)
        try writer.write(to: out)      // replacing an existing checkpoint works too
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["checkpoint"], "no stray temporary folders")

        let resumed = AdamW(parameters: store)
        try resumed.load(path: out + "/" + CheckpointWriter.optimizerFileName)
        XCTAssertEqual(resumed.expAvg[3], 0.25)

        let config = try HFConfig.load(path: out + "/config.json").resolve(path: out)
        XCTAssertEqual(config, store.config, label)
        let reloaded = try ParameterStore.load(folder: out)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: reloaded.values, count: reloaded.count)),
                       Array(UnsafeBufferPointer(start: store.values, count: store.count)), label)
        let inference = try Inference.Model.load(path: out)
        let vocab = store.config.vocabSize
        for b in 0..<fixture.batch {
            let ids = Array(tokens[b * fixture.seqLen..<(b + 1) * fixture.seqLen])
            let logits = try InferenceSession(model: inference).forward(ids, logits: .all)
            let expected = trainingLogits[b * fixture.seqLen * vocab..<(b + 1) * fixture.seqLen * vocab]
            XCTAssertLessThan(maxAbs(logits, expected), 1e-4, "\(label) sequence \(b)")
        }
        if let tokenizerFolder {
            for name in ["tokenizer.json", "tokenizer_config.json"] {
                XCTAssertEqual(FileManager.default.contents(atPath: out + "/" + name), FileManager.default.contents(atPath: tokenizerFolder + "/" + name))
            }
            let generation = try GenerationConfig.load(path: out + "/generation_config.json")
            XCTAssertEqual(generation.eosTokenIDs, store.config.eosTokenIDs)
            XCTAssertEqual(generation.pad_token_id, 1)
        }
        let json = try Fixtures.json(URL(fileURLWithPath: out + "/config.json")) as! [String: Any]
        if store.config.architecture == .stablelm {
            XCTAssertEqual(json["model_type"] as? String, "stablelm")
            XCTAssertNotNil(json["rope_theta"]); XCTAssertNotNil(json["partial_rotary_factor"])
            let rope = json["rope_parameters"] as! [String: Any]
            XCTAssertEqual((rope["partial_rotary_factor"] as! NSNumber).doubleValue,
                           Double(store.config.rotaryDim) / Double(store.config.headDim))
        }
    }

    func testWrittenStableLMCheckpointLoadsInInferenceWithTheSameLogits() throws {
        for folder in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            let path = Fixtures.fixture(folder).path
            try roundTrip(ParameterStore.load(folder: path), tokenizerFolder: path, label: folder)
        }
    }

    func testWrittenMistralCheckpointKeepsItsSlidingWindow() throws {
        var config = TinyConfigs.llama(vocab: 300)
        config.slidingWindow = 2  // shorter than the fixture's sequences, so the window shows in the logits
        let store = try ParameterStore(config: config)
        store.initialize(seed: 9)
        try roundTrip(store, tokenizerFolder: nil, label: "mistral")
    }

    func testWrittenTiedFreshModelLoadsInInference() throws {
        var config = TinyConfigs.stablelm(parallel: true, tied: true, vocab: 2000)
        config.bosTokenID = 0; config.eosTokenIDs = [0]
        let store = try ParameterStore(config: config)
        store.initialize(seed: 5)
        try roundTrip(store, tokenizerFolder: nil, label: "fresh tied")
    }

    func testWritingIntoAMissingFolderFailsWithOneLine() throws {
        let store = try ParameterStore(config: TinyConfigs.stablelm())
        XCTAssertThrowsError(try CheckpointWriter(parameters: store).write(to: "/nonexistent-hayai/x/ckpt")) { error in
            XCTAssertFalse("\(error)".contains("\n"))
            XCTAssertTrue("\(error)".contains("/nonexistent-hayai/x"))
        }
    }
}
