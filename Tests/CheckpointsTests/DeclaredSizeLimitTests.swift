// Sizes read from a file are checked against named limits before anything is allocated from them
// (issue #15): GGUF metadata arrays, the safetensors header, the tensors tiling the data exactly, and
// a config's layer/head/dimension counts and norm/rotary settings.
import Foundation
import XCTest
@testable import Checkpoints
import TestSupport

final class DeclaredSizeLimitTests: XCTestCase {
    var folder: URL!
    override func setUp() { folder = temporaryFolder(self) }

    func testAGGUFArrayLongerThanTheLimitIsRefusedBeforeItIsDecoded() throws {
        let n = GGUFFile.arrayLengthLimit + 1
        var array: [UInt8] = []
        array.putLE(UInt32(0))           // uint8 elements
        array.putLE(UInt64(n))
        array += [UInt8](repeating: 7, count: n)
        var g = HandGGUF.valid
        g.metadata.append(HandGGUF.kv("tokenizer.ggml.token_type", type: 9, array))
        let path = try writeFile(folder, "long-array.gguf", g.build().bytes)
        assertCheckpointError(path, "array of \(n) elements exceeds the limit of \(GGUFFile.arrayLengthLimit) (GGUFFile.arrayLengthLimit)") {
            _ = try GGUFFile(path: path)
        }
        // One element fewer is read.
        var ok = HandGGUF.valid
        var fits: [UInt8] = []
        fits.putLE(UInt32(0)); fits.putLE(UInt64(n - 1)); fits += [UInt8](repeating: 7, count: n - 1)
        ok.metadata.append(HandGGUF.kv("tokenizer.ggml.token_type", type: 9, fits))
        let okPath = try writeFile(folder, "array.gguf", ok.build().bytes)
        XCTAssertEqual(try GGUFFile(path: okPath).metadata["tokenizer.ggml.token_type"]?.arrayValue?.count, n - 1)
    }

    func testASafetensorsHeaderOverTheLimitIsRefusedUnread() throws {
        // A sparse file: the declared header fits the file but exceeds the format's 100 MB limit.
        let url = folder.appendingPathComponent("big-header.safetensors")
        var bytes: [UInt8] = []
        bytes.putLE(UInt64(SafetensorsFile.headerLimit + 1))
        try Data(bytes).write(to: url)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(SafetensorsFile.headerLimit + 64))
        try handle.close()
        assertCheckpointError(url.path, "header length \(SafetensorsFile.headerLimit + 1) exceeds the limit of \(SafetensorsFile.headerLimit) bytes (SafetensorsFile.headerLimit)") {
            _ = try SafetensorsFile(path: url.path)
        }
    }

    /// A safetensors file with the given header entries and `dataBytes` bytes of data.
    func safetensors(_ name: String, _ entries: [String: (offsets: [Int], shape: [Int])], dataBytes: Int) throws -> String {
        let json = "{" + entries.sorted { $0.key < $1.key }.map { name, e in
            "\"\(name)\":{\"dtype\":\"F32\",\"shape\":\(e.shape),\"data_offsets\":\(e.offsets)}"
        }.joined(separator: ",") + "}"
        var bytes: [UInt8] = []
        bytes.putLE(UInt64(json.utf8.count))
        bytes += Array(json.utf8) + [UInt8](repeating: 0, count: dataBytes)
        return try writeFile(folder, name, bytes)
    }

    func testTensorsMustTileTheDataRegionExactly() throws {
        let good = try safetensors("good.safetensors", ["a": ([0, 8], [2]), "b": ([8, 16], [2]), "empty": ([16, 16], [0])], dataBytes: 16)
        XCTAssertEqual(try SafetensorsFile(path: good).tensorInfos.count, 3)
        let gap = try safetensors("gap.safetensors", ["a": ([0, 8], [2]), "b": ([12, 20], [2])], dataBytes: 20)
        assertCheckpointError(gap, "data bytes 8..<12 belong to no tensor") { _ = try SafetensorsFile(path: gap) }
        let overlap = try safetensors("overlap.safetensors", ["a": ([0, 8], [2]), "b": ([4, 12], [2])], dataBytes: 12)
        assertCheckpointError(overlap, "tensor b overlaps the tensor before it") { _ = try SafetensorsFile(path: overlap) }
        let trailing = try safetensors("trailing.safetensors", ["a": ([0, 8], [2])], dataBytes: 9)
        assertCheckpointError(trailing, "the tensors cover 8 data bytes but the file holds 9") { _ = try SafetensorsFile(path: trailing) }
        let leading = try safetensors("leading.safetensors", ["a": ([4, 12], [2])], dataBytes: 12)
        assertCheckpointError(leading, "data bytes 0..<4 belong to no tensor") { _ = try SafetensorsFile(path: leading) }
    }

    func config(_ change: (inout ModelConfig) -> Void) -> ModelConfig {
        var c = ModelConfig(architecture: .stablelm, vocabSize: 100, hiddenSize: 64, intermediateSize: 128, numLayers: 2,
                            numHeads: 4, numKVHeads: 4, maxPositions: 128, norm: .layerNorm, normEps: 1e-5, rotaryDim: 4,
                            ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false, mlpBias: false,
                            qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        change(&c)
        return c
    }

    func testConfigSizesBeyondTheNamedLimitsAreRefused() throws {
        XCTAssertNoThrow(try config { _ in }.validate(path: "c.json"))
        let cases: [(String, (inout ModelConfig) -> Void)] = [
            ("num_hidden_layers 1000000000 exceeds the limit of 4096 (ModelConfig.layerLimit)", { $0.numLayers = 1_000_000_000 }),
            ("vocab_size 4294967295 exceeds the limit of 2097152 (ModelConfig.vocabularyLimit)", { $0.vocabSize = Int(UInt32.max) }),
            ("num_attention_heads 8192 exceeds the limit of 4096 (ModelConfig.headLimit)", { $0.numHeads = 8192; $0.numKVHeads = 8192; $0.hiddenSize = 8192 }),
            ("intermediate_size 1099511627776 exceeds the limit of 1048576 (ModelConfig.dimensionLimit)", { $0.intermediateSize = 1 << 40 }),
            ("hidden_size 2147483648 exceeds", { $0.hiddenSize = 1 << 31 }),
        ]
        for (message, change) in cases {
            assertCheckpointError("c.json", message) { try config(change).validate(path: "c.json") }
        }
    }

    func testNormEpsilonAndRopeThetaMustBeInRange() throws {
        for eps in [Float.nan, -1, 0, 1, .infinity] {
            assertCheckpointError("c.json", "layer_norm_eps \(eps) must be a number between 0 and 1") { try config { $0.normEps = eps }.validate(path: "c.json") }
        }
        assertCheckpointError("c.json", "rms_norm_eps nan") { try config { $0.norm = .rmsNorm; $0.normEps = .nan }.validate(path: "c.json") }
        for theta in [Float.nan, -10000, 0, .infinity] {
            assertCheckpointError("c.json", "rope_theta \(theta) must be a positive finite number") { try config { $0.ropeTheta = theta }.validate(path: "c.json") }
        }
    }

    func testLayerNormBiasesAreRequiredWeights() {
        let plan = DecoderPlan(config: config { _ in })
        let biases = plan.weights.filter { [.attnNormBias, .mlpNormBias, .finalNormBias].contains($0.role) }
        XCTAssertEqual(biases.count, 2 * 2 + 1)
        XCTAssertTrue(biases.allSatisfy { $0.requirement == .required })
    }
}
