// `hayai merge`: a base plus a LoRA adapter folded into one full checkpoint, W' = W + (α/r)·B·A per
// adapted matrix, written as a Hugging Face folder (the base's tokenizer files, the adapter folder's
// chat template when it has one), or as a GGUF of a given type.
import Foundation
import Checkpoints
import Inference
import Kernels

public enum LoRAMerge {
    /// Adds every adapter of `dir` into the matching Float32 matrix of `store` (Hugging Face layout).
    public static func merge(adapterFolder dir: String, into store: ParameterStore) throws {
        guard let weights = store.weights else { throw TrainingError.unsupported("merging into a LoRA store") }
        let (_, adapters) = try AdapterFolder.load(dir, plan: store.plan)
        for (key, adapter) in adapters {
            guard case .matrix(.dense(let w))? = weights.weight(key.role, key.layer) else { continue }
            let out = w.shape[0], inF = w.shape[1]
            // W (out, in) += s · B (out, r) · A (r, in)
            BLAS.gemm(transA: false, transB: false, m: out, n: inF, k: adapter.rank, alpha: adapter.scale, a: adapter.b.pointer, lda: adapter.rank,
                      b: adapter.a.pointer, ldb: inF, beta: 1, c: UnsafeMutablePointer(mutating: w.pointer), ldc: inF)
        }
    }

    /// Writes base + adapter to `out`: a Hugging Face folder, or with `gguf` a GGUF file of that type.
    public static func run(base: String, adapter: String, out: String, gguf: QuantizeTarget?) throws {
        let checkpoint = try BaseCheckpoint(path: base)
        let store = try checkpoint.parameters()
        try merge(adapterFolder: adapter, into: store)
        var tokenizerConfig = checkpoint.tokenizerConfig
        let adapterTokenizerConfig = (adapter as NSString).appendingPathComponent("tokenizer_config.json")
        if let data = FileManager.default.contents(atPath: adapterTokenizerConfig),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            tokenizerConfig = object   // the format the adapter was trained in
        }
        let writer = try checkpoint.writer(for: store, tokenizerConfig: tokenizerConfig)
        guard let gguf else { return try writer.write(to: out) }
        let parent = URL(fileURLWithPath: out).standardizedFileURL.deletingLastPathComponent()
        let folder = parent.appendingPathComponent(".merge-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try writer.write(to: folder)
        try GGUFExport.quantize(input: folder, output: out, target: gguf)
    }
}
