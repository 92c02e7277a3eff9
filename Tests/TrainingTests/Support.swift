// Helpers shared by the training tests: the gradient fixtures (batch.json and the safetensors
// beside it), per-tensor relative error, small random configs of awkward sizes, and a tiny llama GGUF with
// the Llama SentencePiece vocabulary.
import Basics
import Foundation
import XCTest
import Checkpoints
import Inference
import Tokenizers
@testable import Training
import TestSupport

struct GradientFixture {
    let name: String          // train_grads or train_grads_gptneox
    let modelFolder: URL
    let inputIDs: [Int]       // (2·24) row-major
    let labels: [Int]
    let labelsMasked: [Int]
    let loss: Float
    let lossMasked: Float
    let batch: Int, seqLen: Int

    static let stablelm = "train_grads", gptNeoX = "train_grads_gptneox"

    init(_ name: String) throws {
        self.name = name
        let root = try Fixtures.json(Fixtures.fixture("\(name)/batch.json")) as! [String: Any]
        modelFolder = Fixtures.fixture(root["source_model"] as! String)
        let rows = { (key: String) in (root[key] as! [[NSNumber]]) }
        inputIDs = rows("input_ids").flatMap { $0.map(\.intValue) }
        labels = rows("labels").flatMap { $0.map(\.intValue) }
        labelsMasked = rows("labels_masked").flatMap { $0.map(\.intValue) }
        loss = (root["loss"] as! NSNumber).floatValue
        lossMasked = (root["loss_masked"] as! NSNumber).floatValue
        let shape = (root["shape"] as! [NSNumber]).map(\.intValue)
        batch = shape[0]; seqLen = shape[1]
    }

    func file(_ name: String) throws -> SafetensorsFile { try SafetensorsFile(path: Fixtures.fixture("\(self.name)/\(name)").path) }
}

/// max|a − b| / max(max|b|, 1e-12): the per-tensor relative error the tests bound.
func relativeError<A: Collection, B: Collection>(_ a: A, _ b: B) -> Float where A.Element == Float, B.Element == Float {
    precondition(a.count == b.count)
    var diff: Float = 0, scale: Float = 0
    for (x, y) in zip(a, b) { diff = max(diff, abs(x - y)); scale = max(scale, abs(y)) }
    return diff / max(scale, 1e-12)
}

func maxAbs<A: Collection, B: Collection>(_ a: A, _ b: B) -> Float where A.Element == Float, B.Element == Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// Tiny configs with sizes that are not multiples of 8, one per family switch.
enum TinyConfigs {
    static func stablelm(parallel: Bool = false, gqa: Bool = true, qkvBias: Bool = true, qkNorm: Bool = true, tied: Bool = false,
                         rotaryDim: Int = 4, vocab: Int = 37, layers: Int = 2) -> ModelConfig {
        ModelConfig(architecture: .stablelm, vocabSize: vocab, hiddenSize: 18, intermediateSize: 23, numLayers: layers,
                    numHeads: 3, numKVHeads: gqa ? 1 : 3, headDim: 6, maxPositions: 64, norm: .layerNorm, normEps: 1e-5,
                    rotaryDim: rotaryDim, ropeTheta: 10000, parallelResidual: parallel, qkvBias: qkvBias, outputBias: false,
                    mlpBias: false, qkNorm: qkNorm, mlp: .gatedSiLU, tieWordEmbeddings: tied)
    }

    static func gptNeoX(tanh: Bool = false, vocab: Int = 37, layers: Int = 2) -> ModelConfig {
        ModelConfig(architecture: .gptNeoX, vocabSize: vocab, hiddenSize: 18, intermediateSize: 29, numLayers: layers,
                    numHeads: 3, numKVHeads: 3, headDim: 6, maxPositions: 64, norm: .layerNorm, normEps: 1e-5,
                    rotaryDim: 2, ropeTheta: 10000, parallelResidual: true, qkvBias: true, outputBias: true,
                    mlpBias: true, qkNorm: false, mlp: tanh ? .geluTanh : .gelu, fusedQKV: .perHead, tieWordEmbeddings: false)
    }

    static func llama(vocab: Int = 37) -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: vocab, hiddenSize: 18, intermediateSize: 23, numLayers: 2,
                    numHeads: 3, numKVHeads: 1, headDim: 6, maxPositions: 64, norm: .rmsNorm, normEps: 1e-6,
                    rotaryDim: 6, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                    mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: true)
    }

    /// Llama with grouped-query attention, wide enough to export as a GGUF (rows of whole blocks) and
    /// with q/k rows that ggml's RoPE pairing permutes.
    static func llamaGGUF() -> ModelConfig {
        ModelConfig(architecture: .llama, vocabSize: 2000, hiddenSize: 48, intermediateSize: 76, numLayers: 2,
                    numHeads: 6, numKVHeads: 2, headDim: 8, maxPositions: 64, norm: .rmsNorm, normEps: 1e-5,
                    rotaryDim: 8, ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false,
                    mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
    }
}

/// Fills every parameter with normal(0, std) noise (norm weights around 1) so no gradient is trivially zero.
func randomize(_ store: ParameterStore, seed: UInt64, std: Float = 0.3) {
    var rng = SeededRandom(seed: seed)
    for t in store.tensors {
        let isNormWeight = t.shape.count == 1 && (t.name.contains("norm") || t.name.contains("layernorm")) && t.name.hasSuffix("weight")
        for i in 0..<t.count {
            let r = Float(rng.normal(std: Double(std)))
            store.values[t.offset + i] = isNormWeight ? 1 + r : r
        }
    }
}

/// A tiny llama GGUF (F32) of `config`'s shape whose tokenizer metadata is the Llama SentencePiece vocabulary.
func llamaSentencePieceGGUF(in dir: URL, config: ModelConfig = TinyConfigs.llamaGGUF()) throws -> String {
    var config = config
    config.vocabSize = 32000
    let store = try ParameterStore(config: config)
    randomize(store, seed: 11, std: 0.05)
    let folder = dir.appendingPathComponent("llama-no-vocab").path, plain = dir.appendingPathComponent("plain.gguf").path
    try CheckpointWriter(parameters: store).write(to: folder)
    try GGUFExport.quantize(input: folder, output: plain, target: .f32)
    let model = try GGUFFile(path: plain), vocab = try GGUFFile(url: Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
    let out = dir.appendingPathComponent("llama-spm.gguf").path
    var writer = GGUFWriter(path: out)
    for key in model.metadataKeys where !key.hasPrefix("tokenizer.") { try writer.set(key, model.metadata[key]!) }
    for key in vocab.metadataKeys where key.hasPrefix("tokenizer.") { try writer.set(key, vocab.metadata[key]!) }
    for t in model.tensors {
        try writer.addTensor(t.name, type: t.type, shape: t.shape, bytes: Data(bytes: model.rawData(t), count: t.byteCount))
    }
    try writer.write()
    return out
}

/// Three short answers (English and Japanese) for SFT on a SentencePiece base.
let shortAnswers = ["Tokyo is the capital of Japan.", "東京は日本の首都です。", "Two plus two is four."]

/// `count` SFT sequences: a numbered question (not trained), one of `shortAnswers` and "</s>" (trained).
func shortAnswerSequences(_ count: Int, tokenizer: Tokenizer) -> [SFTSequence] {
    (0..<count).map { i in
        SFTPacking.tokenize(SFTExample(segments: [.init("### Question: \(i)\n", trained: false), .init(shortAnswers[i % 3], trained: true),
                                                  .init("</s>", trained: true)]), tokenizer: tokenizer)
    }
}
