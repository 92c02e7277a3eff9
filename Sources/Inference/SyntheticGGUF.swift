// A synthetic model of a published shape (random weights, as `hayai bench --synthetic` builds them) written
// as a GGUF file with a real vocabulary's `tokenizer.ggml.*` metadata, so the commands that take a file —
// `train sft --base`, `chat`, `eval` — can run a model of that size without a download (`hayai quantize
// --synthetic NAME --vocab V.gguf OUT --type T`). The tokens are padded to the shape's vocabulary with
// llama.cpp's converter's unused "[PADn]" entries, so the file's vocabulary matches its embedding.
import Foundation
import Checkpoints
import Kernels
import Tokenizers

extension GGUFExport {
    /// Writes `shape` with random weights in the types `quantize --type target` gives and `vocabulary`'s tokenizer.
    @discardableResult
    public static func writeSynthetic(_ shape: SyntheticShape, target: QuantizeTarget, vocabulary: String, output: String,
                                      seed: UInt64 = 1) throws -> GGUFExportSummary {
        let config = shape.config
        let vocab = try GGUFFile(path: vocabulary)
        _ = try TokenizerLoader.load(gguf: vocab)   // a vocabulary hayai reads, checked before the weights are built
        guard let tokens = vocab.stringArray("tokenizer.ggml.tokens") else {
            throw InferenceError.notAModel(path: vocabulary, reason: "no tokenizer.ggml.tokens: not a vocabulary")
        }
        guard tokens.count <= config.vocabSize else {
            throw InferenceError.notAModel(path: vocabulary, reason: "its \(tokens.count) tokens do not fit the \(shape.rawValue) shape's vocabulary of \(config.vocabSize)")
        }
        let model = try Model.synthetic(config: config, target: target, seed: seed, path: "synthetic \(shape.rawValue)", interleave: false)
        let plan = model.plan

        var writer = GGUFWriter(path: output)
        let parameters = plan.weights.reduce(0) { $0 + $1.count }
        for (key, value) in architectureMetadata(config, folder: shape.rawValue, parameters: parameters, target: target) {
            try writer.set(key, value)
        }
        try writer.set("general.quantization_version", .uint32(2))
        let padding = config.vocabSize - tokens.count
        for key in vocab.metadataKeys where key.hasPrefix("tokenizer.") {
            var value = vocab.metadata[key]!
            if padding > 0, case .array(let items) = value {
                switch key {
                case "tokenizer.ggml.tokens": value = .array(items + (tokens.count..<config.vocabSize).map { .string("[PAD\($0)]") })
                case "tokenizer.ggml.token_type": value = .array(items + Array(repeating: .int32(5), count: padding))   // unused
                case "tokenizer.ggml.scores": value = .array(items + Array(repeating: .float32(-1000), count: padding))
                default: break
                }
            }
            try writer.set(key, value)
        }

        var summary = GGUFExportSummary(tensors: 0, parameters: 0, bytes: 0, typeCounts: [:])
        for w in plan.weights {
            guard let stored = model.weights.weight(w.role, w.layer) else { continue }
            let (type, bytes): (GGMLType, Data)
            switch stored {
            case .vector(let v): (type, bytes) = (.f32, Data(bytes: v.pointer, count: v.count * 4))
            case .matrix(.dense(let m)): (type, bytes) = (.f32, Data(bytes: m.pointer, count: m.count * 4))
            case .matrix(.half(let h, _)): (type, bytes) = (.f16, Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: h.data), count: h.byteCount, deallocator: .none))
            case .matrix(.quantized(let q, _)):
                (type, bytes) = (q.type, Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: q.data), count: q.rows * q.rowBytes, deallocator: .none))
            }
            try writer.addTensor(w.ggufName, type: type, shape: w.shape, bytes: bytes)
            summary.tensors += 1
            summary.parameters += w.count
            summary.bytes += bytes.count
            summary.typeCounts[type, default: 0] += 1
        }
        try withExtendedLifetime(model) { try writer.write() }
        return summary
    }
}
