// The model's trainable parameters as one flat Float32 buffer, with a gradient buffer of the same
// layout, and named views in Hugging Face tensor names (the keys of model.safetensors). The layout
// follows the config's switches; the offsets per layer are what the forward and backward use.
import Basics
import Foundation
import Checkpoints
import Inference

/// One named tensor inside the flat buffer: a planned weight (a per-head norm is one tensor per head).
public struct ParameterTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public let role: WeightRole
    public let layer: Int?
    public var count: Int { shape.reduce(1, *) }
    /// AdamW's usual grouping: matrices (dim ≥ 2) decay; norms and biases do not.
    public var decays: Bool { shape.count >= 2 }
}

public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case unsupported(String)
    case badBatch(String)
    case badState(path: String, what: String)
    /// Training data that cannot be used; the message names the file (and line).
    case badData(String)

    public var description: String {
        switch self {
        case .unsupported(let s): return "training: not supported: \(s)"
        case .badBatch(let s): return "training: bad batch: \(s)"
        case .badState(let p, let w): return "\(p): optimizer state: \(w)"
        case .badData(let s): return s
        }
    }
}

/// The two flat buffers; the weights view points into `values`, so it keeps this (not the store) alive.
final class ParameterBuffers {
    let values: UnsafeMutablePointer<Float>
    let gradients: UnsafeMutablePointer<Float>
    init(count: Int) {
        values = .allocate(capacity: max(count, 1)); values.initialize(repeating: 0, count: max(count, 1))
        gradients = .allocate(capacity: max(count, 1)); gradients.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { values.deallocate(); gradients.deallocate() }
}

public final class ParameterStore: @unchecked Sendable {
    public let config: ModelConfig
    public let plan: DecoderPlan
    public let tensors: [ParameterTensor]
    /// Total number of parameters (the tied output matrix counted once).
    public let count: Int
    public var values: UnsafeMutablePointer<Float> { buffers.values }
    public var gradients: UnsafeMutablePointer<Float> { buffers.gradients }
    /// The parameters as the decoder's weights (Float32 views into `values`), for the one forward.
    public private(set) var weights: DecoderWeights!
    public let embedding: Int
    /// The LM head; equal to `embedding` when the embeddings are tied.
    public let output: Int
    private let buffers: ParameterBuffers
    private let index: [String: Int]
    /// Where each planned weight starts in the flat buffer.
    private let offsets: [WeightKey: Int]

    /// Lays out every weight of the config's plan, all zero.
    public init(config c: ModelConfig) throws {
        config = c
        plan = DecoderPlan(config: c)
        var tensors: [ParameterTensor] = []
        var offset = 0
        var start: [WeightKey: (offset: Int, shape: [Int])] = [:]
        for w in plan.weights {
            start[WeightKey(w.role, w.layer)] = (offset, w.shape)
            for name in w.hfNames(c.architecture) {
                let t = ParameterTensor(name: name, shape: w.hfShape, offset: offset, role: w.role, layer: w.layer)
                tensors.append(t)
                offset += t.count
            }
        }
        self.tensors = tensors
        self.count = offset
        offsets = start.mapValues(\.offset)
        embedding = start[WeightKey(.tokenEmbedding, nil)]!.offset
        output = start[WeightKey(.output, nil)]?.offset ?? embedding
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
        let buffers = ParameterBuffers(count: offset)
        self.buffers = buffers
        loraSettings = nil
        weights = DecoderWeights(plan: plan, path: "parameters") { role, layer in
            guard let (o, shape) = start[WeightKey(role, layer)] else { return nil }
            let view = FloatTensor(mapped: buffers.values + o, shape: shape, keepAlive: buffers)
            return shape.count == 2 && !(role == .qNorm || role == .kNorm) ? .matrix(.dense(view)) : .vector(view)
        }
    }

    /// LoRA stores only: the adapters, as views into `values`, by the (role, layer) of their base matrix.
    public private(set) var adapters: [WeightKey: LoRAAdapter] = [:]
    public let loraSettings: LoRASettings?

    /// The gradient that belongs to a pointer into `values` (the same offset in `gradients`); nil for
    /// a pointer outside this store (a frozen weight).
    public func gradient(of p: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let offset = p - UnsafePointer(values)
        return offset >= 0 && offset < count ? gradients + offset : nil
    }

    /// LoRA adapters for the targeted matrices of `plan`: per layer and target, A (r, in) and B (out, r)
    /// under PEFT's names; the base itself stays outside (frozen). Zero until initializeLoRA.
    public init(lora settings: LoRASettings, base plan: DecoderPlan) throws {
        try settings.check(plan: plan)
        config = plan.config
        self.plan = plan
        loraSettings = settings
        var tensors: [ParameterTensor] = []
        var offset = 0
        var parts: [WeightKey: (a: Int, b: Int, out: Int, in: Int)] = [:]
        let arch = plan.config.architecture
        for w in plan.weights where w.kind == .matrix {
            guard let layer = w.layer, let target = settings.targets.first(where: { $0.role == w.role }) else { continue }
            func add(_ part: String, _ shape: [Int]) -> Int {
                let t = ParameterTensor(name: AdapterFolder.tensorName(target, layer: layer, arch: arch, part: part), shape: shape,
                                        offset: offset, role: w.role, layer: layer)
                tensors.append(t)
                offset += t.count
                return t.offset
            }
            let a = add("A", [settings.rank, w.shape[1]]), b = add("B", [w.shape[0], settings.rank])
            parts[WeightKey(w.role, layer)] = (a, b, w.shape[0], w.shape[1])
        }
        self.tensors = tensors
        self.count = offset
        offsets = [:]
        embedding = 0; output = 0
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
        let buffers = ParameterBuffers(count: offset)
        self.buffers = buffers
        weights = nil
        adapters = parts.mapValues { p in
            LoRAAdapter(a: FloatTensor(mapped: buffers.values + p.a, shape: [settings.rank, p.in], keepAlive: buffers),
                        b: FloatTensor(mapped: buffers.values + p.b, shape: [p.out, settings.rank], keepAlive: buffers), scale: settings.scale)
        }
    }

    /// PEFT's LoRA initialisation: A ~ U(−1/√in, 1/√in) (kaiming_uniform with a = √5), B = 0, so the
    /// adapted model starts as the base.
    public func initializeLoRA(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        for t in tensors {
            let p = values + t.offset
            if t.name.hasSuffix(".lora_A.weight") {
                let bound = 1 / Double(t.shape[1]).squareRoot()
                for i in 0..<t.count { p[i] = Float((rng.uniform() * 2 - 1) * bound) }
            } else {
                p.update(repeating: 0, count: t.count)
            }
        }
    }

    public func tensor(_ name: String) -> ParameterTensor? { index[name].map { tensors[$0] } }

    /// The values of a named tensor, in place.
    public func values(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        tensor(name).map { UnsafeMutableBufferPointer(start: values + $0.offset, count: $0.count) }
    }

    /// The gradient of a named tensor, in place.
    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        tensor(name).map { UnsafeMutableBufferPointer(start: gradients + $0.offset, count: $0.count) }
    }

    public func zeroGradients() { gradients.update(repeating: 0, count: count) }

    // MARK: - Filling the buffer

    /// normal(0, std) for every matrix, ones for norm weights, zeros for biases; with
    /// `scaledResidualInit` the projections that write into the residual stream (attention output and
    /// MLP down) use std / √(2·layers), as GPT-2 and GPT-NeoX do.
    public func initialize(seed: UInt64, std: Float = 0.02, scaledResidualInit: Bool = false) {
        var rng = SeededRandom(seed: seed)
        let residualStd = Double(std) / (2 * Double(config.numLayers)).squareRoot()
        let normWeights: Set<WeightRole> = [.attnNormWeight, .mlpNormWeight, .finalNormWeight, .qNorm, .kNorm]
        for t in tensors {
            let p = values + t.offset
            if t.decays {
                let s = scaledResidualInit && (t.role == .o || t.role == .down) ? residualStd : Double(std)
                for i in 0..<t.count { p[i] = Float(rng.normal(std: s)) }
            } else if normWeights.contains(t.role) {
                p.update(repeating: 1, count: t.count)
            } else {
                p.update(repeating: 0, count: t.count)
            }
        }
    }

    /// Copies every tensor from a Hugging Face folder's model.safetensors (or its shards) through the
    /// inference loader (the same plan, lookups and shape checks), converting F16/BF16 to Float32.
    public func load(folder: String) throws {
        try copy(from: Model.loadWeights(folder: folder, config: config), plan: plan, path: folder)
    }

    /// A store holding `model`'s weights as Float32 in Hugging Face layout, whatever the model was
    /// loaded from (a GGUF's quantized matrices are dequantized; its llama q/k rows, permuted for
    /// ggml's RoPE pairing, and its blocked fused qkv rows go back to Hugging Face's order), so what
    /// trains from it saves as a normal Hugging Face folder.
    public convenience init(model: Model) throws {
        let source = model.config
        var c = source
        c.ropeStyle = .halves
        if source.fusedQKV == .blocked {
            guard source.numKVHeads == source.numHeads else {
                throw TrainingError.unsupported("\(model.path): a fused qkv projection with grouped-query heads")
            }
            c.fusedQKV = .perHead
        }
        try self.init(config: c)
        try copy(from: model.weights, plan: DecoderPlan(config: source), path: model.path)
    }

    /// Copies every weight of `weights` (laid out as `source` plans) into the buffer as Float32, turning
    /// GGUF row layouts back into Hugging Face's; a missing optional weight (a LayerNorm bias) is zeros.
    private func copy(from weights: DecoderWeights, plan source: DecoderPlan, path: String) throws {
        let c = config, d = c.headDim
        for w in source.weights {
            guard let o = offsets[WeightKey(w.role, w.layer)] else { continue }
            guard var values = weights.weight(w.role, w.layer)?.floats else {
                guard w.requirement == .optional else { throw CheckpointError.missingTensor(path: path, name: w.ggufName) }
                (self.values + o).update(repeating: 0, count: w.count)
                continue
            }
            let rows = w.shape[0]
            switch (w.role, source.rope, source.qkv) {
            case (.q, .adjacent, _), (.qBias, .adjacent, _):
                values = GGUFExport.permuteFromGGMLRope(values, heads: c.numHeads, rows: rows)
            case (.k, .adjacent, _), (.kBias, .adjacent, _):
                values = GGUFExport.permuteFromGGMLRope(values, heads: c.numKVHeads, rows: rows)
            case (.qkv, _, .fused(.blocked)), (.qkvBias, _, .fused(.blocked)):
                values = GGUFExport.blockedQKVToPerHead(values, heads: c.numHeads, headDim: d, rows: rows)
            default: break
            }
            precondition(values.count == w.count, "\(w.role) of layer \(w.layer ?? -1): \(values.count) values for \(w.shape)")
            values.withUnsafeBufferPointer { (self.values + o).update(from: $0.baseAddress!, count: w.count) }
        }
    }

    /// A store loaded from any checkpoint hayai runs: a Hugging Face folder (F32/F16/BF16, sharded) or
    /// a GGUF file (see init(model:)).
    public static func load(base path: String) throws -> ParameterStore {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return try load(folder: path)
        }
        return try ParameterStore(model: Model.load(path: path, dequantize: false, interleave: false))
    }

    /// The config of a Hugging Face folder and a store loaded from it.
    public static func load(folder: String) throws -> ParameterStore {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let config = try HFConfig.load(path: configPath).resolve(path: configPath)
        let store = try ParameterStore(config: config)
        try store.load(folder: folder)
        return store
    }
}
