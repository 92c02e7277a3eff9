// config.json and GGUF metadata resolve to the same ModelConfig; bad configs give one-line errors.
import Foundation
import XCTest
@testable import Checkpoints
import Kernels
import TestSupport

final class ModelConfigTests: XCTestCase {
    static let fixtures = ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"]

    var folder: URL!

    override func setUp() { folder = temporaryFolder(self) }

    func hfConfig(_ fixture: String) throws -> ModelConfig {
        let path = Fixtures.fixture("\(fixture)/config.json").path
        return try HFConfig.load(path: path).resolve(path: path)
    }

    /// The fixture's config.json as a mutable dictionary.
    func json(_ fixture: String) throws -> [String: Any] {
        try Fixtures.json(Fixtures.fixture("\(fixture)/config.json")) as! [String: Any]
    }

    func write(_ name: String, _ object: Any) throws -> String {
        let url = folder.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: url)
        return url.path
    }

    func resolve(_ path: String) throws -> ModelConfig { try HFConfig.load(path: path).resolve(path: path) }

    func testFixturesResolveToTheirModels() throws {
        let tiny = try hfConfig("stablelm-tiny")
        XCTAssertEqual(tiny.architecture, .stablelm)
        XCTAssertEqual([tiny.vocabSize, tiny.hiddenSize, tiny.intermediateSize, tiny.numLayers, tiny.numHeads, tiny.numKVHeads, tiny.headDim],
                       [2000, 64, 176, 2, 4, 4, 16])
        XCTAssertEqual(tiny.rotaryDim, 4)
        XCTAssertEqual(tiny.norm, .layerNorm)
        XCTAssertFalse(tiny.parallelResidual)
        XCTAssertFalse(tiny.qkvBias)
        let gqa = try hfConfig("stablelm-tiny-gqa-bias-parallel")
        XCTAssertEqual([gqa.numKVHeads, gqa.rotaryDim], [2, 8])
        XCTAssertTrue(gqa.parallelResidual && gqa.qkvBias && gqa.qkNorm)
        let neox = try hfConfig("gptneox-tiny")
        XCTAssertEqual(neox.architecture, .gptNeoX)
        XCTAssertEqual(neox.mlp, .gelu)
        XCTAssertEqual(neox.fusedQKV, .perHead)
        XCTAssertEqual(neox.rotaryDim, 4)
        XCTAssertTrue(neox.parallelResidual && neox.qkvBias && neox.outputBias && neox.mlpBias)
        for config in [tiny, gqa, neox] {
            XCTAssertEqual(config.maxPositions, 256)
            XCTAssertEqual(config.ropeTheta, 10000)
            XCTAssertEqual(config.normEps, 1e-5)
            XCTAssertEqual(config.bosTokenID, 0)
            XCTAssertEqual(config.eosTokenIDs, [0])
            XCTAssertFalse(config.tieWordEmbeddings)
        }
    }

    func testNestedRopeParametersAndOldTopLevelKeysGiveTheSameModel() throws {
        let ropeKeys = ["rope_theta", "partial_rotary_factor", "rotary_pct", "rotary_emb_base"]
        for fixture in Self.fixtures {
            let original = try hfConfig(fixture)
            var nestedOnly = try json(fixture)
            for k in ropeKeys { nestedOnly.removeValue(forKey: k) }
            XCTAssertNotNil(nestedOnly["rope_parameters"])
            var topLevelOnly = try json(fixture)
            let rope = topLevelOnly.removeValue(forKey: "rope_parameters") as! [String: Any]
            if fixture.hasPrefix("gptneox") {
                topLevelOnly["rotary_pct"] = rope["partial_rotary_factor"]
                topLevelOnly["rotary_emb_base"] = rope["rope_theta"]
            } else {
                topLevelOnly["partial_rotary_factor"] = rope["partial_rotary_factor"]
                topLevelOnly["rope_theta"] = rope["rope_theta"]
            }
            let nested = try resolve(try write("\(fixture)-nested.json", nestedOnly))
            let old = try resolve(try write("\(fixture)-old.json", topLevelOnly))
            XCTAssertEqual(nested, original, fixture)
            XCTAssertEqual(old, original, fixture)
        }
        // The nested form wins over stale top-level keys, as in transformers 5.
        var both = try json("stablelm-tiny")
        both["rope_parameters"] = ["rope_theta": 500000.0, "partial_rotary_factor": 0.5, "rope_type": "default"]
        both["rope_theta"] = 10.0
        let config = try resolve(try write("both.json", both))
        XCTAssertEqual(config.ropeTheta, 500000)
        XCTAssertEqual(config.rotaryDim, 8)
    }

    func testHFConfigAndGGUFResolveToTheSameModel() throws {
        for fixture in Self.fixtures {
            let hf = try hfConfig(fixture)
            let gguf = try GGUFFile(path: Fixtures.fixture("\(fixture).f32.gguf").path).modelConfig()
            var comparable = gguf
            // llama.cpp's converter re-lays the fused qkv (all q, then all k, then all v); RoPE pairing
            // follows the weights' layout. Everything else must agree.
            comparable.fusedQKV = hf.fusedQKV
            comparable.ropeStyle = hf.ropeStyle
            XCTAssertEqual(comparable, hf, fixture)
            XCTAssertEqual(gguf.fusedQKV, hf.fusedQKV == nil ? nil : .blocked, fixture)
        }
    }

    func testUnknownModelType() throws {
        var config = try json("stablelm-tiny")
        config["model_type"] = "bert"
        let path = try write("bert.json", config)
        let error = assertCheckpointError(path, "unknown architecture 'bert' (supported: stablelm, gpt_neox, llama, mistral)") { _ = try resolve(path) }
        XCTAssertEqual(error, .unknownArchitecture(path: path, name: "bert"))
        // Without model_type the architectures class decides, as transformers' Auto classes map it.
        config.removeValue(forKey: "model_type")
        config["architectures"] = ["StableLmForCausalLM"]
        XCTAssertEqual(try resolve(try write("stablelm-by-class.json", config)).architecture, .stablelm)
        config["architectures"] = ["GPTNeoXForCausalLM"]
        let neox = try write("neox-by-class.json", config)
        assertCheckpointError(neox, "hidden_act 'silu' is not supported for gpt_neox") { _ = try resolve(neox) }
        config["architectures"] = ["BertForMaskedLM"]
        let bertClass = try write("bert-class.json", config)
        assertCheckpointError(bertClass, "unknown architecture '(no model_type; architectures BertForMaskedLM)'") { _ = try resolve(bertClass) }
        config.removeValue(forKey: "architectures")
        let none = try write("none.json", config)
        assertCheckpointError(none, "unknown architecture '(no model_type or architectures)'") { _ = try resolve(none) }
    }

    /// A copy of a fixture GGUF with metadata set or removed.
    func editedGGUF(_ fixture: String, _ name: String, set edits: [String: GGUFValue] = [:], remove: [String] = []) throws -> String {
        let source = try GGUFFile(path: Fixtures.fixture("\(fixture).f32.gguf").path)
        let path = folder.appendingPathComponent(name).path
        var writer = GGUFWriter(path: path)
        for key in source.metadataKeys where !remove.contains(key) { try writer.set(key, edits[key] ?? source.metadata[key]!) }
        for (key, value) in edits where source.metadata[key] == nil { try writer.set(key, value) }
        for t in source.tensors {
            try writer.addTensor(t.name, type: t.type, shape: t.shape, bytes: Data(UnsafeRawBufferPointer(start: source.rawData(t), count: t.byteCount)))
        }
        try writer.write()
        return path
    }

    func testGGUFUnknownArchitecture() throws {
        let path = try editedGGUF("stablelm-tiny", "falcon.gguf", set: ["general.architecture": .string("falcon")])
        let error = assertCheckpointError(path, "unknown architecture 'falcon'") { _ = try GGUFFile(path: path).modelConfig() }
        XCTAssertEqual(error, .unknownArchitecture(path: path, name: "falcon"))
        let missing = try editedGGUF("stablelm-tiny", "noarch.gguf", remove: ["general.architecture"])
        assertCheckpointError(missing, "invalid config: missing general.architecture") { _ = try GGUFFile(path: missing).modelConfig() }
        let wrongType = try editedGGUF("stablelm-tiny", "intarch.gguf", set: ["general.architecture": .uint32(7)])
        assertCheckpointError(wrongType, "general.architecture is uint32(7), expected a string") { _ = try GGUFFile(path: wrongType).modelConfig() }
    }

    func testGGUFMissingAndWrongTypedKeys() throws {
        let cases: [(String, GGUFValue?, String)] = [
            ("stablelm.block_count", nil, "invalid config: missing stablelm.block_count"),
            ("stablelm.embedding_length", nil, "invalid config: missing stablelm.embedding_length"),
            ("stablelm.feed_forward_length", nil, "invalid config: missing stablelm.feed_forward_length"),
            ("stablelm.attention.head_count", nil, "invalid config: missing stablelm.attention.head_count"),
            ("stablelm.block_count", .string("2"), "stablelm.block_count is string(\"2\"), expected an integer"),
            ("stablelm.attention.head_count_kv", .float32(2), "stablelm.attention.head_count_kv is float32(2.0), expected an integer"),
            ("stablelm.rope.freq_base", .string("10000"), "stablelm.rope.freq_base is string(\"10000\"), expected a number"),
            ("stablelm.block_count", .uint64(UInt64.max), "expected an integer"),
            ("stablelm.attention.head_count", .int32(0), "head_count must be positive"),
            ("stablelm.attention.head_count_kv", .int32(3), "not a multiple of num_key_value_heads 3"),
            ("stablelm.rope.dimension_count", .int32(17), "rotary dimension 17 must be even and at most head_dim 16"),
            ("stablelm.context_length", .int32(-1), "max_position_embeddings must be positive"),
        ]
        for (i, (key, value, problem)) in cases.enumerated() {
            let path = try value.map { try editedGGUF("stablelm-tiny", "edit\(i).gguf", set: [key: $0]) }
                ?? editedGGUF("stablelm-tiny", "edit\(i).gguf", remove: [key])
            assertCheckpointError(path, problem) { _ = try GGUFFile(path: path).modelConfig() }
        }
    }

    func testMissingKeys() throws {
        for key in ["hidden_size", "num_attention_heads", "vocab_size", "intermediate_size", "num_hidden_layers"] {
            var config = try json("stablelm-tiny")
            config.removeValue(forKey: key)
            let path = try write("missing-\(key).json", config)
            let error = assertCheckpointError(path, "invalid config: missing \(key)") { _ = try resolve(path) }
            XCTAssertEqual(error, .invalidConfig(path: path, what: "missing \(key)"))
        }
        var neox = try json("gptneox-tiny")
        neox.removeValue(forKey: "rope_parameters")
        neox.removeValue(forKey: "rotary_pct")
        neox.removeValue(forKey: "rotary_emb_base")
        // Defaults where Hugging Face has them.
        let config = try resolve(try write("defaults.json", neox))
        XCTAssertEqual(config.ropeTheta, 10000)
        XCTAssertEqual(config.rotaryDim, 4)
    }

    func testWrongTypes() throws {
        let cases: [(String, Any, String)] = [
            ("hidden_size", "64", "key hidden_size has the wrong type"),
            ("use_parallel_residual", "yes", "key use_parallel_residual has the wrong type"),
            ("rope_parameters", 5, "key rope_parameters has the wrong type"),
            ("rope_parameters", ["rope_theta": "big"], "key rope_parameters.rope_theta has the wrong type"),
            ("eos_token_id", "</s>", "key eos_token_id has the wrong type"),
            ("eos_token_id", [0, "x"], "key eos_token_id[1] has the wrong type"),
            ("num_hidden_layers", 2.5, "key num_hidden_layers has a bad value"),
            ("hidden_size", 1e30, "key hidden_size has a bad value"),
            ("model_type", ["stablelm"], "key model_type has the wrong type"),
        ]
        for (i, (key, value, problem)) in cases.enumerated() {
            var config = try json("stablelm-tiny")
            config[key] = value
            let path = try write("wrong\(i).json", config)
            assertCheckpointError(path, problem) { _ = try resolve(path) }
        }
        let array = try write("array.json", [1, 2])
        assertCheckpointError(array, "the top level is not a JSON object") { _ = try resolve(array) }
    }

    func testBadValues() throws {
        let cases: [(String, Any, String)] = [
            ("partial_rotary_factor", 7.0, "partial rotary factor 7.0 is not between 0 and 1"),
            ("num_attention_heads", 0, "num_attention_heads must be positive"),
            ("num_attention_heads", 5, "num_attention_heads 5 is not a multiple of num_key_value_heads 4"),
            ("num_key_value_heads", 3, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
            ("hidden_size", -64, "head dimension -16 must be positive"),
            ("max_position_embeddings", 0, "max_position_embeddings must be positive"),
            ("hidden_act", "relu", "hidden_act 'relu' is not supported"),
            ("head_dim", 0, "head dimension 0 must be positive"),
        ]
        for (i, (key, value, problem)) in cases.enumerated() {
            var config = try json("stablelm-tiny")
            config[key] = value
            if key == "partial_rotary_factor" { config.removeValue(forKey: "rope_parameters") }
            let path = try write("bad\(i).json", config)
            assertCheckpointError(path, "invalid config: " + problem) { _ = try resolve(path) }
        }
        var five = try json("stablelm-tiny")
        five["num_attention_heads"] = 5
        five["num_key_value_heads"] = 5
        let fivePath = try write("five.json", five)
        assertCheckpointError(fivePath, "invalid config: hidden_size 64 is not divisible by num_attention_heads 5") { _ = try resolve(fivePath) }
        var yarn = try json("stablelm-tiny")
        yarn["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0]
        let path = try write("yarn.json", yarn)
        assertCheckpointError(path, "rope type 'yarn' is not supported") { _ = try resolve(path) }
    }

    /// rope_scaling (older files) and rope_parameters (transformers 5) resolve to the same scaling; an
    /// unknown type or a missing parameter is a one-line error naming it, never ignored.
    func testRopeScalingFromBothNestingsAndItsErrors() throws {
        var old = try json("stablelm-tiny")
        old["rope_scaling"] = ["type": "linear", "factor": 2.0]
        XCTAssertEqual(try resolve(try write("linear-old.json", old)).ropeScaling, .linear(factor: 2))
        var nested = try json("stablelm-tiny")
        nested["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192]
        let llama3 = try resolve(try write("llama3.json", nested))
        XCTAssertEqual(llama3.ropeScaling, .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        XCTAssertEqual(llama3.ropeTheta, 500000)
        var dynamic = try json("stablelm-tiny")
        dynamic["rope_scaling"] = ["rope_type": "dynamic", "factor": 2.0]
        XCTAssertEqual(try resolve(try write("dynamic.json", dynamic)).ropeScaling, .dynamicNTK(factor: 2))
        let cases: [([String: Any], String)] = [
            (["type": "longrope", "factor": 2.0], "rope type 'longrope' is not supported (hayai implements default, linear, dynamic, llama3)"),
            (["type": "linear"], "rope type 'linear' without a factor"),
            (["rope_type": "linear", "factor": 0.0], "rope scaling factor 0.0 must be positive"),
            (["rope_type": "llama3", "factor": 8.0], "rope type 'llama3' needs low_freq_factor and high_freq_factor"),
            (["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0, "original_max_position_embeddings": 8],
             "llama3 rope scaling needs 0 < low_freq_factor 4.0 < high_freq_factor 1.0"),
        ]
        for (i, (scaling, problem)) in cases.enumerated() {
            var config = try json("stablelm-tiny")
            config["rope_scaling"] = scaling
            let path = try write("rope\(i).json", config)
            assertCheckpointError(path, "invalid config: " + problem) { _ = try resolve(path) }
        }
    }

    /// Llama 3.1's frequencies (transformers' _compute_llama3_parameters with head_dim 8, θ 10000, original
    /// context 16, factors 8 / 1 / 4): wavelengths above 16 (62.8 and beyond) divided by 8, 2π (between 4
    /// and 16) blended; linear divides all; dynamic NTK is the default within max_position_embeddings.
    func testScaledInverseFrequencies() {
        let base: [Float] = [1, 0.1, 0.01, 0.001]
        let llama3 = RopeScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 16)
            .inverseFrequencies(rotaryDim: 8, theta: 10000)
        let s = (16 / (2 * Double.pi) - 1) / 3
        XCTAssertEqual(Double(llama3[0]), (1 - s) / 8 + s, accuracy: 1e-6)
        for (got, want) in zip(llama3.dropFirst(), base.dropFirst().map { $0 / 8 }) { XCTAssertEqual(got, want, accuracy: want * 1e-6) }
        let kept = RopeScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 64)
            .inverseFrequencies(rotaryDim: 2, theta: 10000)
        XCTAssertEqual(kept, [1], "wavelength 2π is below 64 / 4: kept")
        let linear = RopeScaling.linear(factor: 4).inverseFrequencies(rotaryDim: 8, theta: 10000)
        for (got, want) in zip(linear, base.map { $0 / 4 }) { XCTAssertEqual(got, want, accuracy: want * 1e-6) }
        XCTAssertEqual(RopeScaling.dynamicNTK(factor: 2).inverseFrequencies(rotaryDim: 8, theta: 10000),
                       RopeScaling.none.inverseFrequencies(rotaryDim: 8, theta: 10000))
    }

    func testGGUFRopeScalingKeys() throws {
        let linear = try editedGGUF("stablelm-tiny", "linear.gguf", set: ["stablelm.rope.scaling.type": .string("linear"),
                                                                          "stablelm.rope.scaling.factor": .float32(4)])
        XCTAssertEqual(try GGUFFile(path: linear).modelConfig().ropeScaling, .linear(factor: 4))
        let scaleLinear = try editedGGUF("stablelm-tiny", "scale-linear.gguf", set: ["stablelm.rope.scale_linear": .float32(2)])
        XCTAssertEqual(try GGUFFile(path: scaleLinear).modelConfig().ropeScaling, .linear(factor: 2))
        let none = try editedGGUF("stablelm-tiny", "none.gguf", set: ["stablelm.rope.scaling.type": .string("none")])
        XCTAssertEqual(try GGUFFile(path: none).modelConfig().ropeScaling, RopeScaling.none)
        let yarn = try editedGGUF("stablelm-tiny", "yarn.gguf", set: ["stablelm.rope.scaling.type": .string("yarn"),
                                                                      "stablelm.rope.scaling.factor": .float32(4)])
        assertCheckpointError(yarn, "stablelm.rope.scaling.type string(\"yarn\") is not supported") { _ = try GGUFFile(path: yarn).modelConfig() }
        let noFactor = try editedGGUF("stablelm-tiny", "nofactor.gguf", set: ["stablelm.rope.scaling.type": .string("linear")])
        assertCheckpointError(noFactor, "linear without stablelm.rope.scaling.factor") { _ = try GGUFFile(path: noFactor).modelConfig() }
    }

    func testMalformedAndMissingFiles() throws {
        let url = folder.appendingPathComponent("broken.json")
        for (i, text) in ["{\"hidden_size\": 64,", "", "not json", "{\"a\": 1} trailing"].enumerated() {
            let path = url.path + "\(i)"
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            assertCheckpointError(path, "malformed: not valid JSON") { _ = try HFConfig.load(path: path) }
        }
        let missing = folder.appendingPathComponent("config.json").path
        assertCheckpointError(missing, "cannot open") { _ = try HFConfig.load(path: missing) }
    }
}
