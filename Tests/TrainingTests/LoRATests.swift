// LoRA through the one decoder: adapter gradients against finite differences with the base frozen,
// B = 0 reproducing the base exactly, an adapter saved in PEFT layout loading back to the same logits
// (also across a GGUF base whose q/k rows ggml permutes), a merged checkpoint equal to base + adapter,
// and bad settings and adapter folders as one-line errors.
import XCTest
import Foundation
import Basics
import Checkpoints
import Inference
import Kernels
@testable import Training
import TestSupport

final class LoRATests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-lora") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    let tokens = [1, 17, 503, 99, 1200, 7, 7, 42, 1999, 3, 256, 64, 11]

    func inferenceLogits(_ model: Model) throws -> [Float] {
        try InferenceSession(model: model, contextLength: 64, batchSize: 5, threads: 2).forward(tokens, logits: .all)
    }

    func trainingLogits(_ adapters: ParameterStore, base: DecoderWeights) throws -> [Float] {
        let m = try TrainingModel(parameters: adapters, weights: base.attaching(adapters.adapters), batchSize: 1, seqLen: tokens.count)
        try m.forward(tokens: tokens)
        return Array(m.logits)
    }

    // MARK: - Gradients

    /// With `dropout`, every forward runs the same pass (one fixed mask), so the loss is a smooth function to difference.
    func checkGradients(_ config: ModelConfig, targets: [LoRATarget], label: String, dropout: LoRADropout? = nil) throws {
        let batch = 2, seqLen = 6
        let base = try ParameterStore(config: config)
        randomize(base, seed: 3)
        let settings = LoRASettings(rank: 3, alpha: 5, targets: targets)
        let adapters = try ParameterStore(lora: settings, base: base.plan)
        randomize(adapters, seed: 4)   // B ≠ 0, so A's gradient is not trivially zero
        let attached = dropout.map { $0.attach(to: adapters.adapters) } ?? adapters.adapters
        let model = try TrainingModel(parameters: adapters, weights: base.weights.attaching(attached), batchSize: batch, seqLen: seqLen)
        var rng = SeededRandom(seed: 8)
        let ids = (0..<batch * seqLen).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        var labels = ids
        labels[2] = -100
        dropout?.pass = 6
        try model.forward(tokens: ids, labels: labels)
        adapters.zeroGradients(); base.zeroGradients()
        model.backward()
        XCTAssertTrue(UnsafeBufferPointer(start: base.gradients, count: base.count).allSatisfy { $0 == 0 }, "\(label): the base is frozen")
        let analytic = Array(UnsafeBufferPointer(start: adapters.gradients, count: adapters.count))
        func loss() -> Double {
            dropout?.pass = 6
            try! model.forward(tokens: ids, labels: labels)
            return model.lossSum / Double(model.targetCount)
        }
        XCTAssertEqual(adapters.tensors.count, 2 * targets.count * config.numLayers)
        for t in adapters.tensors {
            var picks = Set((0..<3).map { _ in t.offset + Int(rng.next() % UInt64(t.count)) })
            picks.insert((t.offset..<t.offset + t.count).max { abs(analytic[$0]) < abs(analytic[$1]) }!)
            var diff: Float = 0, scale: Float = 0
            for i in picks {
                let saved = adapters.values[i], h: Float = 1e-2
                adapters.values[i] = saved + h; let lp = loss()
                adapters.values[i] = saved - h; let lm = loss()
                adapters.values[i] = saved
                let numeric = Float((lp - lm) / Double(2 * h))
                diff = max(diff, abs(numeric - analytic[i])); scale = max(scale, abs(numeric))
            }
            XCTAssertLessThan(diff / max(scale, 1e-3), 1e-2, "\(label) \(t.name): diff \(diff) scale \(scale)")
        }
    }

    /// The adapters' products run in row blocks (LoRAAdapter.rowsPerBlock) on the pool, their dA and dB shares
    /// summed in block order: several blocks, the last one short, give one block's logits and gradients.
    func testLoRAInRowBlocksGivesOneBlocksLogitsAndGradients() throws {
        let config = TinyConfigs.stablelm()
        let base = try ParameterStore(config: config)
        randomize(base, seed: 3)
        let settings = LoRASettings(rank: 3, alpha: 5, targets: [.q, .k, .v, .o, .gate, .up, .down])
        var rng = SeededRandom(seed: 8)
        let batch = 3, seqLen = 7
        let ids = (0..<batch * seqLen).map { _ in Int(rng.next() % UInt64(config.vocabSize)) }
        for dropout in [nil, LoRADropout(p: 0.2, seed: 5)] {
            func run(rowsPerBlock: Int) throws -> (logits: [Float], gradients: [Float]) {
                let saved = LoRAAdapter.rowsPerBlock
                LoRAAdapter.rowsPerBlock = rowsPerBlock
                defer { LoRAAdapter.rowsPerBlock = saved }
                let adapters = try ParameterStore(lora: settings, base: base.plan)
                randomize(adapters, seed: 4)
                let attached = dropout.map { $0.attach(to: adapters.adapters) } ?? adapters.adapters
                let model = try TrainingModel(parameters: adapters, weights: base.weights!.attaching(attached), batchSize: batch, seqLen: seqLen)
                dropout?.pass = 2
                try model.forward(tokens: ids, labels: ids)
                adapters.zeroGradients()
                model.backward()
                return (Array(model.logits), Array(UnsafeBufferPointer(start: adapters.gradients, count: adapters.count)))
            }
            let one = try run(rowsPerBlock: 256), blocked = try run(rowsPerBlock: 5)
            let what = dropout == nil ? "no dropout" : "dropout"
            XCTAssertLessThan(maxAbs(blocked.logits, one.logits), 1e-5, what)
            XCTAssertLessThan(relativeError(blocked.gradients, one.gradients), 1e-5, what)
            XCTAssertGreaterThan(one.gradients.map(abs).max() ?? 0, 1e-4, "\(what): the gradients are not all zero")
        }
    }

    func testLoRAGradientsMatchFiniteDifferencesWithTheBaseFrozen() throws {
        try checkGradients(TinyConfigs.stablelm(), targets: [.q, .k, .v, .o, .gate, .up, .down], label: "stablelm")
        try checkGradients(TinyConfigs.stablelm(parallel: true), targets: [.q, .v, .down], label: "stablelm parallel")
        try checkGradients(TinyConfigs.gptNeoX(), targets: [.qkv, .o, .up, .down], label: "gpt_neox")
        try checkGradients(TinyConfigs.llama(), targets: [.q, .k, .v, .o, .gate, .up, .down], label: "llama")
    }

    func testLoRAGradientsWithDropoutMatchFiniteDifferencesUnderAFixedMask() throws {
        try checkGradients(TinyConfigs.stablelm(), targets: [.q, .k, .v, .o, .gate, .up, .down], label: "stablelm dropout",
                           dropout: LoRADropout(p: 0.3, seed: 11))
        try checkGradients(TinyConfigs.gptNeoX(), targets: [.qkv, .o, .up, .down], label: "gpt_neox dropout", dropout: LoRADropout(p: 0.5, seed: 12))
    }

    /// Dropout acts on the adapter path only, only while enabled, and each pass draws a new seeded mask.
    func testLoRADropoutMasksTheAdapterInputOnlyWhileTraining() throws {
        let config = TinyConfigs.stablelm()
        let base = try ParameterStore(config: config)
        randomize(base, seed: 3)
        let adapters = try ParameterStore(lora: LoRASettings(rank: 3, alpha: 5, targets: [.q, .v, .up, .down]), base: base.plan)
        randomize(adapters, seed: 4)
        let ids = tokens.prefix(8).map { $0 % config.vocabSize }
        func logits(_ dropout: LoRADropout?) throws -> [Float] {
            let attached = dropout.map { $0.attach(to: adapters.adapters) } ?? adapters.adapters
            let m = try TrainingModel(parameters: adapters, weights: base.weights.attaching(attached), batchSize: 1, seqLen: ids.count)
            try m.forward(tokens: ids)
            return Array(m.logits)
        }
        let plain = try logits(nil)
        let off = LoRADropout(p: 0.5, seed: 1); off.enabled = false
        XCTAssertEqual(try logits(off), plain, "disabled dropout is the identity")
        XCTAssertEqual(try logits(LoRADropout(p: 0, seed: 1)), plain, "p = 0 is the identity")
        let a = try logits(LoRADropout(p: 0.5, seed: 1)), b = try logits(LoRADropout(p: 0.5, seed: 1)), c = try logits(LoRADropout(p: 0.5, seed: 2))
        XCTAssertEqual(a, b, "the same seed gives the same mask")
        XCTAssertGreaterThan(relativeError(a, plain), 1e-4, "dropout changes the adapter's output")
        XCTAssertGreaterThan(relativeError(a, c), 1e-4, "another seed, another mask")
        // The mask keeps about 1 − p of the elements, scaled by 1/(1 − p): its mean is about 1.
        let d = LoRADropout(p: 0.25, seed: 5)
        let n = 100_000
        let factors = (0..<n).map { d.factor(salt: 7, index: $0) }
        XCTAssertEqual(Double(factors.filter { $0 == 0 }.count) / Double(n), 0.25, accuracy: 0.01)
        XCTAssertEqual(Double(factors.reduce(0, +)) / Double(n), 1, accuracy: 0.02)
        d.pass += 1
        XCTAssertNotEqual((0..<64).map { d.factor(salt: 7, index: $0) }, Array(factors.prefix(64)), "a new pass draws a new mask")
    }

    func testAdapterConfigRecordsTheDropout() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny").path)
        let settings = LoRASettings(rank: 2, alpha: 4, targets: [.q, .v], dropout: 0.1)
        let adapters = try ParameterStore(lora: settings, base: model.plan)
        let dir = scratch.appendingPathComponent("dropout-adapter").path
        try AdapterFolder.write(adapters.adapters, settings: settings, plan: model.plan, base: "b", to: dir)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(json["lora_dropout"] as? Double, 0.1)
        XCTAssertEqual(try AdapterFolder.readConfig(dir, arch: model.config.architecture).settings, settings)
        XCTAssertThrowsError(try LoRASettings(rank: 2, alpha: 4, targets: [.q], dropout: 1).check(plan: model.plan))
    }

    /// The frozen base's input gradient through dequantized tiles equals the dense product.
    func testInputGradientThroughQuantizedAndHalfWeightsMatchesDense() throws {
        let model = try Model.load(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path, interleave: false)
        guard case .qkv = LoRATarget.qkv, let up = model.weights.layers.first?.mlp.up.weight else { return XCTFail() }
        let rows = up.rows, cols = up.cols, t = 5
        let dense = up.floats()
        var rng = SeededRandom(seed: 2)
        let dy = (0..<t * rows).map { _ in Float(rng.normal()) }
        var expected = [Float](repeating: 0, count: t * cols)
        for r in 0..<t { for j in 0..<cols { var s: Float = 0; for i in 0..<rows { s += dy[r * rows + i] * dense[i * cols + j] }; expected[r * cols + j] = s } }
        var got = [Float](repeating: 0, count: t * cols)
        dy.withUnsafeBufferPointer { d in got.withUnsafeMutableBufferPointer { up.addInputGradient(dy: d.baseAddress!, t: t, into: $0.baseAddress!) } }
        XCTAssertLessThan(relativeError(got, expected), 1e-5)
    }

    // MARK: - B = 0, save, load, merge

    func testAdapterWithZeroBReproducesTheBaseExactly() throws {
        for path in [Fixtures.fixture("stablelm-tiny").path, Fixtures.fixture("stablelm-tiny.q8_0.gguf").path] {
            let model = try Model.load(path: path)
            let adapters = try ParameterStore(lora: LoRASettings(rank: 4, alpha: 8, targets: [.q, .k, .v, .o, .gate, .up, .down]), base: model.plan)
            adapters.initializeLoRA(seed: 1)
            XCTAssertTrue(adapters.tensors.contains { $0.name.hasSuffix("lora_A.weight") && adapters.values[$0.offset] != 0 }, "A is random")
            let adapted = Model(config: model.config, weights: model.weights.attaching(adapters.adapters), path: path, sources: model.sources,
                                tokenizer: model.tokenizer, interleave: false)
            XCTAssertEqual(try inferenceLogits(adapted), try inferenceLogits(model), "\(path): B = 0 changes nothing")
        }
    }

    func testSavedAdapterLoadsBackAndTheMergedModelMatchesBasePlusAdapter() throws {
        let base = Fixtures.fixture("stablelm-tiny-gqa-bias-parallel").path
        let model = try Model.load(path: base)
        let settings = LoRASettings(rank: 4, alpha: 8, targets: [.q, .k, .v, .o, .gate, .up, .down])
        let adapters = try ParameterStore(lora: settings, base: model.plan)
        randomize(adapters, seed: 9, std: 0.05)
        let dir = scratch.appendingPathComponent("adapter").path
        try AdapterFolder.write(adapters.adapters, settings: settings, plan: adapters.plan, base: base, to: dir)
        let training = try trainingLogits(adapters, base: model.weights)
        let reloaded = try inferenceLogits(try Model.load(path: base, adapter: dir))
        XCTAssertLessThan(relativeError(reloaded, training), 2e-5, "the adapter folder gives the trained logits")
        XCTAssertGreaterThan(relativeError(reloaded, try inferenceLogits(model)), 1e-3, "the adapter changes the model")

        let merged = scratch.appendingPathComponent("merged").path
        try LoRAMerge.run(base: base, adapter: dir, out: merged, gguf: nil)
        let mergedLogits = try inferenceLogits(try Model.load(path: merged))
        XCTAssertLessThan(maxAbs(mergedLogits, reloaded), 1e-4, "merged = base + adapter")
        let gguf = scratch.appendingPathComponent("merged.gguf").path
        try LoRAMerge.run(base: base, adapter: dir, out: gguf, gguf: .f32)
        XCTAssertLessThan(maxAbs(try inferenceLogits(try Model.load(path: gguf)), reloaded), 1e-4, "merged GGUF = base + adapter")
    }

    /// Trained beside a llama GGUF (q/k rows permuted for ggml's RoPE), the adapter is saved in Hugging
    /// Face's row order: on the same model as a Hugging Face folder it gives the same logits.
    func testAdapterTrainedOnAGGUFBaseIsInHuggingFaceOrder() throws {
        let config = TinyConfigs.llamaGGUF()
        let store = try ParameterStore(config: config)
        randomize(store, seed: 5, std: 0.2)
        let folder = scratch.appendingPathComponent("llama").path, gguf = scratch.appendingPathComponent("llama.gguf").path
        try CheckpointWriter(parameters: store, tokenizerFolder: Fixtures.fixture("stablelm-tiny").path).write(to: folder)
        try GGUFExport.quantize(input: folder, output: gguf, target: .f32)
        let ggufModel = try Model.load(path: gguf)
        XCTAssertEqual(ggufModel.plan.rope, .adjacent)
        let settings = LoRASettings(rank: 2, alpha: 4, targets: [.q, .k, .v, .o])
        let adapters = try ParameterStore(lora: settings, base: ggufModel.plan)
        randomize(adapters, seed: 6, std: 0.1)
        let dir = scratch.appendingPathComponent("adapter").path
        try AdapterFolder.write(adapters.adapters, settings: settings, plan: adapters.plan, base: gguf, to: dir)
        let onGGUF = try trainingLogits(adapters, base: ggufModel.weights)
        XCTAssertLessThan(relativeError(try inferenceLogits(try Model.load(path: folder, adapter: dir)), onGGUF), 2e-5)
        XCTAssertLessThan(relativeError(try inferenceLogits(try Model.load(path: gguf, adapter: dir)), onGGUF), 2e-5)
    }

    // MARK: - Bad input

    func assertOneLine(_ body: @autoclosure () throws -> Any, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), text, file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing from: \(text)", file: file, line: line) }
        }
    }

    func testBadSettingsAndAdapterFoldersAreOneLineErrors() throws {
        let stablelm = DecoderPlan(config: try HFConfig.load(path: Fixtures.fixture("stablelm-tiny/config.json").path).resolve(path: "c"))
        assertOneLine(try LoRASettings.targets("q,zz", plan: stablelm), ["unknown target 'zz'"])
        assertOneLine(try LoRASettings.targets("qkv", plan: stablelm), ["no 'qkv' projection"])
        assertOneLine(try LoRASettings.targets("q", plan: DecoderPlan(config: TinyConfigs.gptNeoX())), ["fused: use qkv"])
        assertOneLine(try LoRASettings(rank: 65, alpha: 1, targets: [.q]).check(plan: stablelm), ["rank 65 is larger than q's dimensions 64×64"])

        // An adapter for another base: stablelm-tiny's k is (64, 64), the GQA fixture's (32, 64).
        let settings = LoRASettings(rank: 2, alpha: 4, targets: [.q, .k])
        let adapters = try ParameterStore(lora: settings, base: stablelm)
        let dir = scratch.appendingPathComponent("a").path
        try AdapterFolder.write(adapters.adapters, settings: settings, plan: stablelm, base: "stablelm-tiny", to: dir)
        assertOneLine(try Model.load(path: Fixtures.fixture("stablelm-tiny-gqa-bias-parallel").path, adapter: dir), ["an adapter for another base"])
        assertOneLine(try Model.load(path: Fixtures.fixture("gptneox-tiny").path, adapter: dir), ["q_proj", "gpt_neox"])

        let weights = dir + "/" + AdapterFolder.weightsName, config = dir + "/" + AdapterFolder.configName
        let good = try Data(contentsOf: URL(fileURLWithPath: weights))
        try good.prefix(good.count / 2).write(to: URL(fileURLWithPath: weights))
        assertOneLine(try Model.load(path: Fixtures.fixture("stablelm-tiny").path, adapter: dir), [weights])
        try FileManager.default.removeItem(atPath: weights)
        assertOneLine(try Model.load(path: Fixtures.fixture("stablelm-tiny").path, adapter: dir), [weights, "missing"])
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: config))
        assertOneLine(try Model.load(path: Fixtures.fixture("stablelm-tiny").path, adapter: dir), [config, "not a JSON object"])
        assertOneLine(try Model.load(path: Fixtures.fixture("stablelm-tiny").path, adapter: scratch.appendingPathComponent("nope").path),
                      ["no such adapter folder"])
    }

    func testSFTRowsDefaultTo512TokensNotTheBasesWholeContext() {
        // SmolLM2's 8192 positions at 8 rows needed ~640 GB of saved attention, and every run without --seq-len was refused.
        XCTAssertEqual(SFTConfig().rowLength(maxPositions: 8192), 512)
        XCTAssertEqual(SFTConfig().rowLength(maxPositions: 128), 128)
        var asked = SFTConfig()
        asked.contextLength = 1024
        XCTAssertEqual(asked.rowLength(maxPositions: 8192), 1024)
        XCTAssertEqual(asked.rowLength(maxPositions: 256), 256)
    }

    func testAMemoryEstimateThatDoesNotFitIsRefused() throws {
        let estimate = MemoryEstimate(weights: 4_000_000_000, adapters: 1_000_000, optimizer: 3_000_000, activations: 2_000_000_000)
        XCTAssertNoThrow(try estimate.check(available: 8_000_000_000))
        assertOneLine(try estimate.check(available: 1_000_000_000), ["needs ~6.00 GB", "only 1.00 GB is available"])
        // A LoRA run is not told to train LoRA adapters; full training is.
        do { try estimate.check(available: 1_000_000_000); XCTFail("fits") } catch {
            XCTAssertFalse("\(error)".contains("--lora-rank"), "\(error)")
        }
        var full = estimate
        full.adapters = 0
        do { try full.check(available: 1_000_000_000); XCTFail("fits") } catch {
            XCTAssertTrue("\(error)".contains("--lora-rank"), "\(error)")
        }
        // What the process holds already counts too, and residentNow sees memory as it is touched.
        var withProcess = estimate
        withProcess.process = 500_000_000
        XCTAssertEqual(withProcess.total, estimate.total + 500_000_000)
        XCTAssertTrue(withProcess.description.contains("the process so far 0.50 GB"), withProcess.description)
        let before = MemoryEstimate.residentNow
        XCTAssertGreaterThan(before, 1_000_000)
        let touched = 64 << 20
        // Fresh pages from mmap (malloc may hand back pages an earlier test left resident).
        let block = try XCTUnwrap(mmap(nil, touched, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        XCTAssertNotEqual(block, MAP_FAILED)
        defer { munmap(block, touched) }
        memset(block, 1, touched)
        XCTAssertGreaterThan(MemoryEstimate.residentNow - before, touched * 9 / 10)
        // The counted activations are what a model allocates.
        let store = try ParameterStore(config: TinyConfigs.stablelm())
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 9)
        XCTAssertEqual(TrainingModel.activationBytes(config: store.config, batchSize: 2, seqLen: 9), 4 * model.activationFloats)
        let lora = try ParameterStore(lora: LoRASettings(rank: 2, alpha: 4, targets: [.q, .down], dropout: 0.1), base: store.plan)
        let dropped = try TrainingModel(parameters: lora, weights: store.weights!.attaching(LoRADropout(p: 0.1, seed: 1).attach(to: lora.adapters)),
                                        batchSize: 2, seqLen: 9)
        XCTAssertEqual(TrainingModel.activationBytes(config: store.config, batchSize: 2, seqLen: 9, loraRank: 2, loraDropout: true),
                       4 * dropped.activationFloats)
    }
}
