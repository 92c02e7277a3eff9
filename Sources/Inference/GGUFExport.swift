// `hayai quantize`: a Hugging Face folder or a GGUF file to a GGUF that llama.cpp's tools load.
//
// From a Hugging Face folder the file is what convert_hf_to_gguf.py writes for the architecture:
// the same metadata keys in the same order (general.*, the architecture's hyperparameters,
// tokenizer.ggml.* with tokens, token types, merges and special ids), tensors in its order (sorted
// by Hugging Face name) under llama.cpp's names, GPT-NeoX's fused qkv regrouped from per-head to
// [all q, all k, all v], llama's q/k rows permuted for ggml's rope (pairs (2i, 2i+1)), StableLM's
// per-head q/k norms stacked into one tensor. From a GGUF the metadata and tensor order are kept and
// only general.file_type and the types change. Types per tensor: QuantizationPlan.
import Foundation
import Checkpoints
import Kernels
import Tokenizers

public struct GGUFExportSummary: Sendable {
    public var tensors: Int
    public var parameters: Int
    public var bytes: Int
    /// Tensors per output type.
    public var typeCounts: [GGMLType: Int]
}

public enum GGUFExport {
    /// Writes `input` (HF folder or .gguf) quantized to `target` as a GGUF at `output`.
    @discardableResult
    public static func quantize(input: String, output: String, target: QuantizeTarget,
                                progress: ((String) -> Void)? = nil) throws -> GGUFExportSummary {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir) else {
            throw InferenceError.notAModel(path: input, reason: "no such file or folder")
        }
        let plan: ExportPlan = isDir.boolValue ? try huggingFacePlan(folder: input, target: target)
                                               : try ggufPlan(GGUFFile(path: input), target: target)
        var writer = GGUFWriter(path: output)
        for (key, value) in plan.metadata { try writer.set(key, value) }
        var summary = GGUFExportSummary(tensors: 0, parameters: 0, bytes: 0, typeCounts: [:])
        let layers = plan.config.numLayers
        let hasOutput = plan.tensors.contains { $0.name == "output.weight" }
        for (i, t) in plan.tensors.enumerated() {
            let type = QuantizationPlan.type(for: t.name, shape: t.shape, target: target, layerCount: layers, hasOutput: hasOutput,
                                             queryGroups: plan.config.numHeads / plan.config.numKVHeads)
            let bytes: Data
            if t.transform == nil, t.info.type == type, t.info.shape == t.shape {
                bytes = Data(bytes: t.source.rawData(t.info), count: t.info.byteCount)     // already in that type
            } else {
                var values = try t.source.floats(t.info)
                if let f = t.transform { values = try f(values) }
                bytes = try encode(values, shape: t.shape, as: type, name: t.name, path: t.source.path)
            }
            try writer.addTensor(t.name, type: type, shape: t.shape, bytes: bytes)
            summary.tensors += 1
            summary.parameters += t.shape.reduce(1, *)
            summary.bytes += bytes.count
            summary.typeCounts[type, default: 0] += 1
            progress?("[\(i + 1)/\(plan.tensors.count)] \(t.name) \(t.shape) \(t.info.type) -> \(type)")
        }
        try writer.write()
        return summary
    }

    /// Float values of a tensor in `type`'s bytes (rows quantized in parallel).
    static func encode(_ values: [Float], shape: [Int], as type: GGMLType, name: String, path: String) throws -> Data {
        switch type {
        case .f32:
            return values.withUnsafeBytes { Data($0) }
        case .f16:
            var half = [UInt16](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { src in half.withUnsafeMutableBufferPointer { FastOps.floatToHalf(src.baseAddress!, $0.baseAddress!, count: values.count) } }
            return half.withUnsafeBytes { Data($0) }
        default:
            let cols = shape.last!, rows = values.count / max(cols, 1)
            guard let rowBytes = type.byteCount(elements: cols) else {
                throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name): rows of \(cols) are not whole \(type) blocks")
            }
            for v in values where !v.isFinite {
                throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) holds a non-finite value; cannot quantize it")
            }
            var out = Data(count: rows * rowBytes)
            let chunk = max(1, 4096 / max(1, cols / 256))
            try values.withUnsafeBufferPointer { src in
                try out.withUnsafeMutableBytes { dst in
                    let s = src.baseAddress!, d = dst.baseAddress!
                    let pieces = (rows + chunk - 1) / chunk
                    var failure: Error?
                    DispatchQueue.concurrentPerform(iterations: pieces) { p in
                        let r0 = p * chunk, n = min(chunk, rows - r0)
                        do { try quantizeReference(type, s + r0 * cols, d + r0 * rowBytes, count: n * cols) } catch { failure = error }
                    }
                    if let failure { throw failure }
                }
            }
            return out
        }
    }

    // MARK: - What to write

    struct PlannedTensor {
        var name: String                      // GGUF name
        var shape: [Int]                      // row-major, as written
        var source: TensorSource
        var info: TensorInfo
        var transform: (([Float]) throws -> [Float])?
    }

    struct ExportPlan {
        var config: ModelConfig
        var metadata: [(String, GGUFValue)]
        var tensors: [PlannedTensor]
    }

    static func ggufPlan(_ gguf: GGUFFile, target: QuantizeTarget) throws -> ExportPlan {
        let config = try gguf.modelConfig()
        var metadata: [(String, GGUFValue)] = []
        for key in gguf.metadataKeys {
            switch key {
            case "general.file_type": metadata.append((key, .uint32(target.fileType)))
            case "general.quantization_version": continue
            default: metadata.append((key, gguf.metadata[key]!))
            }
        }
        if gguf.metadata["general.file_type"] == nil { metadata.append(("general.file_type", .uint32(target.fileType))) }
        metadata.append(("general.quantization_version", .uint32(2)))
        var tensors = gguf.tensors.map { PlannedTensor(name: $0.name, shape: $0.shape, source: gguf, info: $0, transform: nil) }
        // A tied file (one hayai wrote before, say) gets the output.weight llama.cpp requires.
        let output = WeightRole.output.ggufName(), embedding = WeightRole.tokenEmbedding.ggufName()
        if requiresOutputTensor(config.architecture), gguf.tensorInfos[output] == nil, let e = gguf.tensorInfos[embedding],
           let at = tensors.firstIndex(where: { $0.name == embedding }) {
            tensors.insert(PlannedTensor(name: output, shape: e.shape, source: gguf, info: e, transform: nil), at: at + 1)
        }
        return ExportPlan(config: config, metadata: metadata, tensors: tensors)
    }

    static func huggingFacePlan(folder: String, target: QuantizeTarget) throws -> ExportPlan {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw InferenceError.notAModel(path: folder, reason: "not a model folder: config.json is missing")
        }
        let c = try HFConfig.load(path: configPath).resolve(path: configPath)
        let sources = try Model.safetensorsFiles(in: folder).map { try SafetensorsFile(path: $0) as TensorSource }

        // Every weight the decoder plan lists, under its GGUF name, in the converter's order (the
        // Hugging Face names sorted); a stacked per-head norm sits where its first head's name sorts.
        var all: [String: (TensorSource, TensorInfo)] = [:]
        for s in sources { for (n, i) in s.tensorInfos { all[n] = (s, i) } }
        let plan = DecoderPlan(config: c)
        var weights = plan.weights
        // llama.cpp requires output.weight for some architectures even when the embedding is tied.
        let tiedOutput = c.tieWordEmbeddings && requiresOutputTensor(c.architecture)
        if tiedOutput { weights.append(plan.outputWeight) }
        var planned: [(order: String, tensor: PlannedTensor)] = []
        var used = Set<String>()
        let d = c.headDim
        for w in weights {
            let hfNames = w.hfNames(c.architecture)
            if case .headNorm(let heads) = w.kind {
                // StableLM's per-head q/k norms: HF "…q_layernorm.norms.H.weight", one GGUF tensor (heads, d).
                let parts = try hfNames.map { n -> (TensorSource, TensorInfo) in
                    guard let found = all[n] else { throw CheckpointError.missingTensor(path: folder, name: n) }
                    guard found.1.shape == w.hfShape else {
                        throw CheckpointError.shapeMismatch(path: found.0.path, tensor: n, expected: w.hfShape, found: found.1.shape)
                    }
                    return found
                }
                used.formUnion(hfNames)
                planned.append((hfNames.min()!, PlannedTensor(name: w.ggufName, shape: [heads, d], source: parts[0].0, info: parts[0].1,
                                                             transform: { _ in try parts.flatMap { try $0.0.floats($0.1) } })))
                continue
            }
            var hfName = hfNames[0]
            // A tied checkpoint's LM head is its embedding (unless the file carries the head anyway).
            if tiedOutput, w.role == .output, all[hfName] == nil { hfName = WeightRole.tokenEmbedding.hfName(c.architecture) }
            guard let (source, info) = all[hfName] else {
                if w.requirement == .optional { continue }
                throw CheckpointError.missingTensor(path: folder, name: hfName)
            }
            guard info.shape == w.hfShape else {
                throw CheckpointError.shapeMismatch(path: source.path, tensor: hfName, expected: w.hfShape, found: info.shape)
            }
            used.insert(hfName)
            var t = PlannedTensor(name: w.ggufName, shape: info.shape, source: source, info: info, transform: nil)
            switch (c.architecture, w.role) {
            case (.llama, .q), (.llama, .qBias):
                t.transform = { permuteForGGMLRope($0, heads: c.numHeads, rows: info.shape[0]) }
            case (.llama, .k), (.llama, .kBias):
                t.transform = { permuteForGGMLRope($0, heads: c.numKVHeads, rows: info.shape[0]) }
            case (.gptNeoX, .qkv), (.gptNeoX, .qkvBias):
                t.transform = { perHeadQKVToBlocked($0, heads: c.numHeads, headDim: d, rows: info.shape[0]) }
            default: break
            }
            planned.append((hfNames[0], t))
        }
        // A tied checkpoint may still carry the head's tensor; buffers the converter skips are skipped too.
        let ignorable = [WeightRole.output.hfName(c.architecture)]
        for name in all.keys.sorted() where !used.contains(name) && !ignorable.contains(name) {
            if name.hasSuffix("rotary_emb.inv_freq") || name.hasSuffix(".attention.bias") || name.hasSuffix(".masked_bias") { continue }
            throw CheckpointError.malformed(path: all[name]!.0.path, what: "tensor \(name) has no GGUF name for architecture \(c.architecture.rawValue)")
        }
        let tensors = planned.sorted { $0.order < $1.order }.map(\.tensor)
        let parameters = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        if case .llama3 = c.ropeScaling {
            throw CheckpointError.invalidConfig(path: folder, what: "llama3 rope scaling (a rope_freqs tensor in GGUF) cannot be written by hayai")
        }
        var metadata = architectureMetadata(c, folder: folder, parameters: parameters, target: target)
        metadata += try tokenizerMetadata(folder: folder, config: c)
        metadata.append(("general.quantization_version", .uint32(2)))
        if c.architecture == .gptNeoX, ![.f32, .f16, .q8_0].contains(target) { metadata.append(("general.file_type", .uint32(target.fileType))) }
        return ExportPlan(config: c, metadata: metadata, tensors: tensors)
    }

    /// Whether llama.cpp's loader requires `output.weight` for the architecture: stablelm and gptneox
    /// create it without TENSOR_NOT_REQUIRED (load_arch_tensors), so a tied checkpoint needs the
    /// embedding written again under that name; llama's is optional and falls back to token_embd.
    public static func requiresOutputTensor(_ arch: Architecture) -> Bool {
        switch arch {
        case .stablelm, .gptNeoX: return true
        case .llama: return false
        }
    }

    /// llama's q/k rows: HF pairs (i, i + d/2) for rope; ggml pairs (2i, 2i + 1). Per head, row
    /// (j, i) of the (2, d/2) split moves to (i, j).
    static func permuteForGGMLRope(_ w: [Float], heads: Int, rows: Int) -> [Float] {
        let cols = w.count / rows, hd = rows / heads, half = hd / 2
        var out = w
        for h in 0..<heads { for j in 0..<2 { for i in 0..<half {
            let src = h * hd + j * half + i, dst = h * hd + i * 2 + j
            for c in 0..<cols { out[dst * cols + c] = w[src * cols + c] }
        } } }
        return out
    }

    /// The inverse of permuteForGGMLRope: a llama GGUF's q/k rows back in Hugging Face's order.
    public static func permuteFromGGMLRope(_ w: [Float], heads: Int, rows: Int) -> [Float] {
        let cols = w.count / rows, hd = rows / heads, half = hd / 2
        var out = w
        for h in 0..<heads { for j in 0..<2 { for i in 0..<half {
            let hf = h * hd + j * half + i, ggml = h * hd + i * 2 + j
            for c in 0..<cols { out[hf * cols + c] = w[ggml * cols + c] }
        } } }
        return out
    }

    /// The inverse of perHeadQKVToBlocked: GGUF's [all q, all k, all v] rows back to HF's per-head [q, k, v].
    public static func blockedQKVToPerHead(_ w: [Float], heads: Int, headDim d: Int, rows: Int) -> [Float] {
        let cols = w.count / rows
        var out = w
        for h in 0..<heads { for p in 0..<3 { for i in 0..<d {
            let perHead = h * 3 * d + p * d + i, blocked = p * heads * d + h * d + i
            for c in 0..<cols { out[perHead * cols + c] = w[blocked * cols + c] }
        } } }
        return out
    }

    /// GPT-NeoX's fused qkv: HF rows per head [q, k, v]; GGUF rows [all q, all k, all v].
    static func perHeadQKVToBlocked(_ w: [Float], heads: Int, headDim d: Int, rows: Int) -> [Float] {
        let cols = w.count / rows
        var out = w
        for h in 0..<heads { for p in 0..<3 { for i in 0..<d {
            let src = h * 3 * d + p * d + i, dst = p * heads * d + h * d + i
            for c in 0..<cols { out[dst * cols + c] = w[src * cols + c] }
        } } }
        return out
    }

    /// gguf-py's model_weight_count_rounded_notation ("357K", "1.6B").
    static func sizeLabel(_ n: Int) -> String {
        let (scaled, suffix): (Double, String)
        if Double(n) > 1e12 { (scaled, suffix) = (Double(n) * 1e-12, "T") }
        else if Double(n) > 1e9 { (scaled, suffix) = (Double(n) * 1e-9, "B") }
        else if Double(n) > 1e6 { (scaled, suffix) = (Double(n) * 1e-6, "M") }
        else { (scaled, suffix) = (Double(n) * 1e-3, "K") }
        let digits = String(Int(scaled.rounded())).drop { $0 == "0" }.count
        return String(format: "%.\(max(2 - digits, 0))f", scaled) + suffix
    }

    /// llama.cpp's rope_freq_base when a file has none (llama_model::load_hparams). hayai reads only
    /// plain RoPE (ModelConfig refuses rope_scaling types), so rope.scaling.* is never needed.
    static let defaultRopeTheta: Float = 10000

    static func architectureMetadata(_ c: ModelConfig, folder: String, parameters: Int, target: QuantizeTarget) -> [(String, GGUFValue)] {
        let arch = GGUFFile.ggufArchitecture(c.architecture)
        let base = (folder as NSString).standardizingPath
        let name = (base as NSString).lastPathComponent.split(whereSeparator: { $0 == "-" || $0 == "_" })
            .map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined(separator: " ")
        var m: [(String, GGUFValue)] = [
            ("general.architecture", .string(arch)), ("general.type", .string("model")),
            ("general.name", .string(name)), ("general.size_label", .string(sizeLabel(parameters))),
        ]
        func u(_ k: String, _ v: Int) { m.append(("\(arch).\(k)", .uint32(UInt32(v)))) }
        func f(_ k: String, _ v: Float) { m.append(("\(arch).\(k)", .float32(v))) }
        u("context_length", c.maxPositions); u("embedding_length", c.hiddenSize); u("block_count", c.numLayers)
        u("feed_forward_length", c.intermediateSize)
        switch c.architecture {
        case .stablelm:
            u("rope.dimension_count", c.rotaryDim); u("attention.head_count", c.numHeads); u("attention.head_count_kv", c.numKVHeads)
            m.append(("stablelm.use_parallel_residual", .bool(c.parallelResidual)))
            f("attention.layer_norm_epsilon", c.normEps)
            // The converter writes no freq_base for these two; llama.cpp then assumes 10000, so any other
            // theta is written (the default is left out, keeping the files byte-identical to the converter's).
            if c.ropeTheta != defaultRopeTheta { f("rope.freq_base", c.ropeTheta) }
        case .gptNeoX:
            u("rope.dimension_count", c.rotaryDim); u("attention.head_count", c.numHeads)
            m.append(("gptneox.use_parallel_residual", .bool(c.parallelResidual)))
            f("attention.layer_norm_epsilon", c.normEps)
            if c.ropeTheta != defaultRopeTheta { f("rope.freq_base", c.ropeTheta) }
        case .llama:
            u("attention.head_count", c.numHeads); u("attention.head_count_kv", c.numKVHeads)
            f("rope.freq_base", c.ropeTheta); f("attention.layer_norm_rms_epsilon", c.normEps)
            if c.headDim != c.hiddenSize / c.numHeads { u("attention.key_length", c.headDim); u("attention.value_length", c.headDim) }
            u("vocab_size", c.vocabSize); u("rope.dimension_count", c.rotaryDim)
        }
        // Linear scaling as llama.cpp's converter writes it; dynamic NTK equals the default within the context.
        if case .linear(let factor) = c.ropeScaling {
            m.append(("\(arch).rope.scaling.type", .string("linear"))); f("rope.scaling.factor", Float(factor))
        }
        // The converter's GPT-NeoX writes no file type; llama-quantize appends one (after the
        // quantization version) to the types only it produces.
        if c.architecture != .gptNeoX { m.append(("general.file_type", .uint32(target.fileType))) }
        return m
    }

    /// tokenizer.ggml.* from tokenizer.json and tokenizer_config.json, as the converter writes them: a
    /// byte-level BPE as its gpt2 vocabulary, a SentencePiece-style file (BPE with byte fallback and "▁",
    /// or Unigram) as its llama vocabulary (SentencePieceGGUFVocabulary), then SpecialVocab's special ids,
    /// add_bos/add_eos and the chat template. A folder without tokenizer.json gets none.
    static func tokenizerMetadata(folder: String, config c: ModelConfig) throws -> [(String, GGUFValue)] {
        let path = (folder as NSString).appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let model = json["model"] as? [String: Any] else {
            throw CheckpointError.malformed(path: path, what: "no model object")
        }
        var out: [(String, GGUFValue)]
        let count: Int
        let tokenID: (String) -> Int?
        var defaults: [String: Int] = [:]       // special ids the tokenizer itself names, where the configs do not
        var addFlags: [String: Bool]? = nil     // add_bos/add_eos as the loaded tokenizer applies them
        if TokenizerLoader.isSentencePieceStyle(json) {
            let tokenizer = try TokenizerLoader.load(folder: folder)
            out = try SentencePieceGGUFVocabulary.metadata(folder: folder, tokenizer: tokenizer, size: c.vocabSize)
            count = max(c.vocabSize, tokenizer.vocabularySize)
            tokenID = { tokenizer.tokenID($0) }
            if case .array(let types)? = out.first(where: { $0.0 == "tokenizer.ggml.token_type" })?.1,
               let unk = types.firstIndex(of: .int32(2)) { defaults["unk"] = unk }   // llama.cpp's UNKNOWN
            if let bos = tokenizer.bosTokenID { defaults["bos"] = bos }
            if let eos = tokenizer.eosTokenIDs.first { defaults["eos"] = eos }
            let suffix = (tokenizer as? SentencePieceJSONTokenizer)?.suffixIDs ?? []
            addFlags = ["add_bos_token": tokenizer.addsBOS, "add_eos_token": tokenizer.eosTokenIDs.first.map(suffix.contains) ?? false]
        } else {
            guard (model["type"] as? String) == "BPE", let vocab = model["vocab"] as? [String: Int], let rawMerges = model["merges"] as? [Any] else {
                throw CheckpointError.malformed(path: path, what: "only byte-level BPE and SentencePiece-style (BPE with byte fallback, "
                                                + "or Unigram) tokenizers can be written to GGUF by hayai")
            }
            var addedIDs: [String: Int] = [:]
            (out, count, addedIDs) = byteLevelVocabulary(json, vocab: vocab, merges: rawMerges, config: c)
            tokenID = { addedIDs[$0] ?? vocab[$0] }
        }

        // Special ids: tokenizer_config.json's *_token strings looked up among the tokens, then config.json's
        // *_token_id (SpecialVocab's order: bos, eos, unk, sep, pad, cls, mask).
        let tcPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
        let tc = FileManager.default.contents(atPath: tcPath).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        let cfg = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent("config.json"))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        let keyNames = ["bos": "bos", "eos": "eos", "unk": "unknown", "sep": "seperator", "pad": "padding", "cls": "cls", "mask": "mask"]
        for typ in ["bos", "eos", "unk", "sep", "pad", "cls", "mask"] {
            var id: Int?
            if let s = tc["\(typ)_token"] as? String { id = tokenID(s) }
            else if let d = tc["\(typ)_token"] as? [String: Any], let s = d["content"] as? String { id = tokenID(s) }
            if id == nil, let v = cfg["\(typ)_token_id"] as? Int { id = v }
            if let id, id >= 0, id < count { out.append(("tokenizer.ggml.\(keyNames[typ]!)_token_id", .uint32(UInt32(id)))) }
            else if let id = defaults[typ] { out.append(("tokenizer.ggml.\(keyNames[typ]!)_token_id", .uint32(UInt32(id)))) }
        }
        for flag in ["add_bos_token", "add_eos_token"] {
            if let b = addFlags?[flag] ?? tc[flag] as? Bool { out.append(("tokenizer.ggml.\(flag)", .bool(b))) }
        }
        if let template = tc["chat_template"] as? String { out.append(("tokenizer.chat_template", .string(template))) }
        return out
    }

    /// The converter's gpt2 vocabulary: tokens (padded to the config's size), token types, merges; with
    /// the number of ids and the added tokens by content.
    static func byteLevelVocabulary(_ json: [String: Any], vocab: [String: Int], merges rawMerges: [Any],
                                    config c: ModelConfig) -> ([(String, GGUFValue)], Int, [String: Int]) {
        var byID: [Int: String] = [:]
        for (t, id) in vocab { byID[id] = t }
        var added: [Int: Bool] = [:]
        var addedIDs: [String: Int] = [:]
        for a in json["added_tokens"] as? [[String: Any]] ?? [] {
            guard let id = a["id"] as? Int, let content = a["content"] as? String else { continue }
            byID[id] = content; added[id] = (a["special"] as? Bool) ?? false; addedIDs[content] = id
        }
        let count = max(c.vocabSize, (byID.keys.max() ?? -1) + 1)
        var tokens: [GGUFValue] = [], types: [GGUFValue] = []
        for i in 0..<count {
            guard let t = byID[i] else { tokens.append(.string("[PAD\(i)]")); types.append(.int32(5)); continue }
            tokens.append(.string(t))
            if let special = added[i] {
                let looksSpecial = (t.hasPrefix("<|") && t.hasSuffix("|>")) || (t.hasPrefix("<") && t.hasSuffix(">") && !t.contains(" "))
                types.append(.int32(special || looksSpecial ? 3 : 4))
            } else {
                types.append(.int32(1))
            }
        }
        let merges: [GGUFValue] = rawMerges.compactMap { m in
            if let s = m as? String { return .string(s) }
            if let p = m as? [String], p.count == 2 { return .string(p[0] + " " + p[1]) }
            return nil
        }
        var out: [(String, GGUFValue)] = [("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(preTokenizerName(json)))]
        out.append(("tokenizer.ggml.tokens", .array(tokens)))
        out.append(("tokenizer.ggml.token_type", .array(types)))
        out.append(("tokenizer.ggml.merges", .array(merges)))
        return (out, count, addedIDs)
    }

    /// llama.cpp's name for the pre-tokenizer (the converter finds it by hashing the tokenizer's
    /// output; hayai recognizes the patterns it supports and calls plain ByteLevel "gpt-2").
    static func preTokenizerName(_ json: [String: Any]) -> String {
        let text = (try? JSONSerialization.data(withJSONObject: json["pre_tokenizer"] ?? [:])).map { String(decoding: $0, as: UTF8.self) } ?? ""
        if text.contains("(?i:'s|'t|'re|'ve|'m|'ll|'d)") { return "llama-bpe" }
        if text.contains("\\\\p{N}\\\\p{N}\\\\p{N}") || text.contains("\\p{N}{1,3}") { return "qwen2" }
        return "gpt-2"
    }
}
