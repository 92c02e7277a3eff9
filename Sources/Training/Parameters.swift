// The model's trainable parameters as one flat Float32 buffer, with a gradient buffer of the same
// layout, and named views in Hugging Face tensor names (the keys of model.safetensors). The layout
// follows the config's switches; the offsets per layer are what the forward and backward use.
import Basics
import Foundation
import Checkpoints

/// One named tensor inside the flat buffer.
public struct ParameterTensor: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// AdamW's usual grouping: matrices (dim ≥ 2) decay; norms and biases do not.
    public var decays: Bool { shape.count >= 2 }
}

/// Offsets into the flat buffer of one decoder layer's tensors (nil where the config has none).
public struct LayerOffsets: Sendable {
    public var attnNormWeight = 0, attnNormBias: Int?
    public var q: Int?, qBias: Int?, k: Int?, kBias: Int?, v: Int?, vBias: Int?
    public var qkv: Int?, qkvBias: Int?           // GPT-NeoX fused projection, per head [q, k, v]
    public var o = 0, oBias: Int?
    public var qNorm: Int?, kNorm: Int?           // per-head LayerNorm weights, (heads, headDim) contiguous
    public var mlpNormWeight: Int?, mlpNormBias: Int?
    public var gate: Int?
    public var up = 0, upBias: Int?
    public var down = 0, downBias: Int?
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

public final class ParameterStore: @unchecked Sendable {
    public let config: ModelConfig
    public let tensors: [ParameterTensor]
    /// Total number of parameters (the tied output matrix counted once).
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public let embedding: Int
    public let layers: [LayerOffsets]
    public let finalNormWeight: Int, finalNormBias: Int?
    /// The LM head; equal to `embedding` when the embeddings are tied.
    public let output: Int
    private let index: [String: Int]

    /// Lays out the tensors the config implies, all zero.
    public init(config c: ModelConfig) throws {
        guard c.architecture != .llama || c.norm == .rmsNorm else { throw TrainingError.unsupported("llama with LayerNorm") }
        if c.fusedQKV != nil {
            guard c.fusedQKV == .perHead, c.numKVHeads == c.numHeads else {
                throw TrainingError.unsupported("a fused qkv projection other than GPT-NeoX's per-head layout")
            }
        }
        config = c
        var tensors: [ParameterTensor] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int]) -> Int {
            let t = ParameterTensor(name: name, shape: shape, offset: offset)
            tensors.append(t)
            offset += t.count
            return t.offset
        }
        let arch = c.architecture, hidden = c.hiddenSize, d = c.headDim
        let qDim = c.numHeads * d, kvDim = c.numKVHeads * d
        let normBias = c.norm == .layerNorm
        embedding = add(WeightRole.tokenEmbedding.hfName(arch), [c.vocabSize, hidden])
        var layers: [LayerOffsets] = []
        for l in 0..<c.numLayers {
            func name(_ r: WeightRole) -> String { r.hfName(arch, layer: l) }
            var o = LayerOffsets()
            o.attnNormWeight = add(name(.attnNormWeight), [hidden])
            if normBias { o.attnNormBias = add(name(.attnNormBias), [hidden]) }
            if c.fusedQKV != nil {
                o.qkv = add(name(.qkv), [qDim + 2 * kvDim, hidden])
                if c.qkvBias { o.qkvBias = add(name(.qkvBias), [qDim + 2 * kvDim]) }
            } else {
                o.q = add(name(.q), [qDim, hidden])
                if c.qkvBias { o.qBias = add(name(.qBias), [qDim]) }
                o.k = add(name(.k), [kvDim, hidden])
                if c.qkvBias { o.kBias = add(name(.kBias), [kvDim]) }
                o.v = add(name(.v), [kvDim, hidden])
                if c.qkvBias { o.vBias = add(name(.vBias), [kvDim]) }
            }
            o.o = add(name(.o), [hidden, qDim])
            if c.outputBias { o.oBias = add(name(.oBias), [hidden]) }
            if c.qkNorm {
                // HF keeps one LayerNorm (weight only) per head: `...q_layernorm.norms.H.weight`.
                let qPrefix = name(.qNorm), kPrefix = name(.kNorm)
                o.qNorm = offset
                for h in 0..<c.numHeads { _ = add("\(qPrefix)\(h).weight", [d]) }
                o.kNorm = offset
                for h in 0..<c.numKVHeads { _ = add("\(kPrefix)\(h).weight", [d]) }
            }
            // StableLM's parallel block feeds the MLP the attention's norm: no second norm then.
            if !(c.parallelResidual && arch == .stablelm) {
                o.mlpNormWeight = add(name(.mlpNormWeight), [hidden])
                if normBias { o.mlpNormBias = add(name(.mlpNormBias), [hidden]) }
            }
            if c.mlp == .gatedSiLU { o.gate = add(name(.gate), [c.intermediateSize, hidden]) }
            o.up = add(name(.up), [c.intermediateSize, hidden])
            if c.mlpBias { o.upBias = add(name(.upBias), [c.intermediateSize]) }
            o.down = add(name(.down), [hidden, c.intermediateSize])
            if c.mlpBias { o.downBias = add(name(.downBias), [hidden]) }
            layers.append(o)
        }
        self.layers = layers
        finalNormWeight = add(WeightRole.finalNormWeight.hfName(arch), [hidden])
        finalNormBias = normBias ? add(WeightRole.finalNormBias.hfName(arch), [hidden]) : nil
        output = c.tieWordEmbeddings ? embedding : add(WeightRole.output.hfName(arch), [c.vocabSize, hidden])
        self.tensors = tensors
        self.count = offset
        var index: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { index[t.name] = i }
        self.index = index
        values = .allocate(capacity: max(offset, 1))
        values.initialize(repeating: 0, count: max(offset, 1))
        gradients = .allocate(capacity: max(offset, 1))
        gradients.initialize(repeating: 0, count: max(offset, 1))
    }

    deinit { values.deallocate(); gradients.deallocate() }

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
        var residualOffsets = Set<Int>()
        if scaledResidualInit { for l in layers { residualOffsets.insert(l.o); residualOffsets.insert(l.down) } }
        var normWeights = Set([finalNormWeight])
        for l in layers {
            normWeights.insert(l.attnNormWeight)
            if let w = l.mlpNormWeight { normWeights.insert(w) }
        }
        for t in tensors {
            let p = values + t.offset
            if t.decays {
                let s = residualOffsets.contains(t.offset) ? residualStd : Double(std)
                for i in 0..<t.count { p[i] = Float(rng.normal(std: s)) }
            } else if normWeights.contains(t.offset) || t.name.contains("_layernorm.norms.") {
                p.update(repeating: 1, count: t.count)
            } else {
                p.update(repeating: 0, count: t.count)
            }
        }
    }

    /// Copies every tensor from a Hugging Face folder's model.safetensors (or its shards), converting
    /// F16/BF16 to Float32; shapes must match the config. A tied model ignores a stored lm_head.
    public func load(folder: String) throws {
        let files = try Self.safetensorsFiles(in: folder).map { try SafetensorsFile(path: $0) }
        try load(from: files, path: folder)
    }

    public func load(from sources: [TensorSource], path: String) throws {
        for t in tensors {
            guard let (source, info) = sources.lazy.compactMap({ s in s.tensorInfos[t.name].map { (s, $0) } }).first else {
                throw CheckpointError.missingTensor(path: path, name: t.name)
            }
            guard info.shape == t.shape else {
                throw CheckpointError.shapeMismatch(path: source.path, tensor: t.name, expected: t.shape, found: info.shape)
            }
            let floats = try source.floats(info)
            floats.withUnsafeBufferPointer { (values + t.offset).update(from: $0.baseAddress!, count: t.count) }
        }
    }

    /// The config of a Hugging Face folder and a store loaded from it.
    public static func load(folder: String) throws -> ParameterStore {
        let configPath = (folder as NSString).appendingPathComponent("config.json")
        let config = try HFConfig.load(path: configPath).resolve(path: configPath)
        let store = try ParameterStore(config: config)
        try store.load(folder: folder)
        return store
    }

    static func safetensorsFiles(in folder: String) throws -> [String] {
        let single = (folder as NSString).appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: single) { return [single] }
        let indexPath = (folder as NSString).appendingPathComponent("model.safetensors.index.json")
        guard let data = FileManager.default.contents(atPath: indexPath),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw CheckpointError.cannotOpen(path: folder, reason: "no model.safetensors (or a model.safetensors.index.json with a weight_map)")
        }
        return Set(map.values).sorted().map { (folder as NSString).appendingPathComponent($0) }
    }
}
