// GGUFs hayai writes load in llama.cpp: a tied-embedding checkpoint (as the `tiny` preset trains)
// written by `hayai quantize` carries every tensor llama.cpp's loader requires for its architecture
// (output.weight included for stablelm and gptneox) and every metadata key its loader reads, with a
// non-default rope theta kept; hayai loads the file back with the checkpoint's logits. A tied GGUF
// without output.weight (one hayai wrote before) gets it when quantized again.
import XCTest
import Foundation
import Checkpoints
import Inference
@testable import Training
import TestSupport

final class GGUFForLlamaCppTests: XCTestCase {
    /// What llama.cpp reads, from its source (src/llama-model.cpp `load_hparams` and src/models/*.cpp
    /// `load_arch_hparams` / `load_arch_tensors`, ggml-org/llama.cpp, autumn 2026).
    enum LlamaCpp {
        /// Keys read with get_key(..., required) or without which the model has no shape.
        static func requiredKeys(_ arch: String) -> [String] {
            var keys = ["general.architecture", "\(arch).context_length", "\(arch).embedding_length", "\(arch).block_count",
                        "\(arch).feed_forward_length", "\(arch).attention.head_count"]
            switch arch {
            case "stablelm": keys += ["stablelm.attention.layer_norm_epsilon"]
            case "gptneox": keys += ["gptneox.attention.layer_norm_epsilon", "gptneox.use_parallel_residual"]
            case "llama": keys += ["llama.attention.layer_norm_rms_epsilon"]
            default: XCTFail("no key list for \(arch)")
            }
            return keys
        }

        /// Rope keys read with a default: rope.freq_base (10000), rope.dimension_count (the head size),
        /// rope.scaling.type ("linear") and rope.scaling.factor (none). hayai reads only plain rope, so a file
        /// must carry freq_base when theta is not 10000 and dimension_count when rotation is partial.
        static let ropeDefaultTheta: Double = 10000

        /// Tensors created without TENSOR_NOT_REQUIRED (per layer `blk.N.`); llama's output.weight is optional
        /// (TENSOR_DUPLICATED from token_embd), stablelm's ffn_norm and q/k norms are optional.
        static func requiredTensors(_ arch: String, layers: Int, fusedQKV: Bool) -> [String] {
            var model = ["token_embd.weight", "output_norm.weight"], layer: [String] = ["attn_norm.weight", "attn_output.weight", "ffn_up.weight", "ffn_down.weight"]
            layer += fusedQKV ? ["attn_qkv.weight"] : ["attn_q.weight", "attn_k.weight", "attn_v.weight"]
            switch arch {
            case "stablelm":
                model += ["output_norm.bias", "output.weight"]; layer += ["attn_norm.bias", "ffn_gate.weight"]
            case "gptneox":
                model += ["output_norm.bias", "output.weight"]
                layer += ["attn_norm.bias", "attn_qkv.bias", "attn_output.bias", "ffn_norm.weight", "ffn_norm.bias", "ffn_up.bias", "ffn_down.bias"]
            case "llama":
                layer += ["ffn_norm.weight", "ffn_gate.weight"]
            default: XCTFail("no tensor list for \(arch)")
            }
            return model + (0..<layers).flatMap { l in layer.map { "blk.\(l).\($0)" } }
        }
    }

    var dir: URL!
    override func setUp() { dir = Fixtures.temporaryDirectory("hayai-gguf-llamacpp") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// A tied checkpoint of `config` with a non-default rope theta, written as training writes it.
    func tiedCheckpoint(_ config: ModelConfig, theta: Float, name: String) throws -> String {
        var c = config
        c.tieWordEmbeddings = true
        c.ropeTheta = theta
        let folder = dir.appendingPathComponent(name).path
        try CheckpointWriter(parameters: try ParameterStore(config: c)).write(to: folder)
        return folder
    }

    func logits(_ path: String, ids: [Int]) throws -> [Float] {
        Array(try InferenceSession(model: Inference.Model.load(path: path)).forward(ids, logits: .all))
    }

    func testTiedCheckpointsExportEverythingLlamaCppRequires() throws {
        let cases: [(ModelConfig, String, Float)] = [
            (TinyConfigs.stablelm(parallel: false), "stablelm", 50_000), (TinyConfigs.gptNeoX(), "gptneox", 20_000),
            (TinyConfigs.llama(), "llama", 500_000),
        ]
        for (config, arch, theta) in cases {
            let folder = try tiedCheckpoint(config, theta: theta, name: arch)
            for target in [QuantizeTarget.f32, .f16] {
                let out = dir.appendingPathComponent("\(arch).\(target).gguf").path
                try GGUFExport.quantize(input: folder, output: out, target: target)
                let file = try GGUFFile(path: out)
                XCTAssertEqual(file.string("general.architecture"), arch)
                for key in LlamaCpp.requiredKeys(arch) { XCTAssertNotNil(file.metadata[key], "\(arch) \(target): \(key)") }
                XCTAssertEqual(file.float("\(arch).rope.freq_base") ?? LlamaCpp.ropeDefaultTheta, Double(theta), "\(arch): rope theta as llama.cpp reads it")
                XCTAssertEqual(file.int("\(arch).rope.dimension_count") ?? config.headDim, config.rotaryDim, "\(arch): rotated dimensions")
                for tensor in LlamaCpp.requiredTensors(arch, layers: config.numLayers, fusedQKV: config.fusedQKV != nil) {
                    XCTAssertNotNil(file.tensorInfos[tensor], "\(arch) \(target): \(tensor) (llama.cpp: check_tensor_dims: tensor not found)")
                }
                let ids = [1, 5, 9, 2, 7, 3]
                let tolerance: Float = target == .f32 ? 1e-4 : 2e-2
                XCTAssertLessThan(maxAbs(try logits(out, ids: ids), try logits(folder, ids: ids)), tolerance, "\(arch) \(target): logits")
            }
        }
    }

    func testRequantizingATiedGGUFAddsOutputWeight() throws {
        let folder = try tiedCheckpoint(TinyConfigs.stablelm(parallel: false), theta: 10_000, name: "stablelm")
        let full = dir.appendingPathComponent("full.gguf").path
        try GGUFExport.quantize(input: folder, output: full, target: .f32)
        // The same file without output.weight, as hayai wrote tied checkpoints before.
        let source = try GGUFFile(path: full)
        XCTAssertNil(source.metadata["stablelm.rope.freq_base"], "the default theta is left out, as the converter does")
        let tied = dir.appendingPathComponent("tied.gguf").path
        var writer = GGUFWriter(path: tied)
        for key in source.metadataKeys { try writer.set(key, source.metadata[key]!) }
        for t in source.tensors where t.name != "output.weight" {
            try writer.addTensor(t.name, type: t.type, shape: t.shape, bytes: Data(bytes: source.rawData(t), count: t.byteCount))
        }
        try writer.write()
        XCTAssertNil(try GGUFFile(path: tied).tensorInfos["output.weight"])

        let again = dir.appendingPathComponent("again.gguf").path
        try GGUFExport.quantize(input: tied, output: again, target: .f16)
        let file = try GGUFFile(path: again)
        let output = try XCTUnwrap(file.tensorInfos["output.weight"])
        XCTAssertEqual(output.shape, try XCTUnwrap(file.tensorInfos["token_embd.weight"]).shape)
        let ids = [4, 8, 15, 16, 23]
        XCTAssertLessThan(maxAbs(try logits(again, ids: ids), try logits(tied, ids: ids)), 2e-2)
    }
}
