// The decoder's weights, looked up by role from a Hugging Face folder or a GGUF file, checked
// against the config's shapes. F32, F16 and BF16 matrices are used in place from the memory map
// (DenseMatrix), GGUF quantized ones stay packed (QuantizedMatrix); vectors and anything else are
// converted to Float32 once at load.
import Foundation
import Checkpoints
import Kernels

/// A Float32 buffer that either points into a mapped file or owns its memory.
public final class FloatTensor: @unchecked Sendable {
    public let pointer: UnsafePointer<Float>
    public let count: Int
    public let shape: [Int]
    private let owned: UnsafeMutablePointer<Float>?
    private let keepAlive: AnyObject?

    init(mapped pointer: UnsafePointer<Float>, shape: [Int], keepAlive: AnyObject) {
        self.pointer = pointer; self.shape = shape; self.count = shape.reduce(1, *); self.owned = nil; self.keepAlive = keepAlive
    }

    public init(values: [Float], shape: [Int]) {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(values.count, 1))
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
        self.owned = p; self.pointer = UnsafePointer(p); self.shape = shape; self.count = values.count; self.keepAlive = nil
    }

    deinit { owned?.deallocate() }

    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// A weight matrix (rows, cols): Float32 (in the map or owned), Float16/BFloat16 in the map
/// (multiplied through F16C without a Float32 copy), or a GGUF quantized type kept packed in the map
/// and multiplied with integer dot products (see QuantizedMatrix).
public enum WeightMatrix: @unchecked Sendable {
    case dense(FloatTensor)
    case half(DenseMatrix, owner: AnyObject)
    case quantized(QuantizedMatrix, owner: AnyObject)

    public var rows: Int {
        switch self { case .dense(let w): return w.shape[0]; case .half(let h, _): return h.rows; case .quantized(let q, _): return q.rows }
    }
    public var cols: Int {
        switch self { case .dense(let w): return w.shape[1]; case .half(let h, _): return h.cols; case .quantized(let q, _): return q.cols }
    }
    /// Bytes streamed from memory per use of the whole matrix.
    public var byteCount: Int {
        switch self {
        case .dense(let w): return w.count * 4
        case .half(let h, _): return h.byteCount
        case .quantized(let q, _): return q.rows * q.rowBytes
        }
    }
    public var typeName: String {
        switch self { case .dense: return "F32"; case .half(let h, _): return "\(h.element)"; case .quantized(let q, _): return "\(q.type)" }
    }

    /// y (t, rows) = x (t, cols) · Wᵀ. One token runs on the pool (never BLAS); several use sgemm.
    public func multiply(_ x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        switch self {
        case .dense(let w): DenseMatrix(element: .f32, rows: rows, cols: cols, data: w.pointer).matMul(x: x, t: t, into: y, pool: pool)
        case .half(let h, _): h.matMul(x: x, t: t, into: y, pool: pool)
        case .quantized(let q, _): q.matMul(x: x, t: t, into: y, pool: pool)
        }
    }

    /// Row r as floats (an embedding lookup).
    public func copyRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .dense(let w): out.update(from: w.pointer + r * cols, count: cols)
        case .half(let h, _): h.rowsAsFloat(r..<r + 1, into: out)
        case .quantized(let q, _): q.dequantizeRows(r..<r + 1, into: out)
        }
    }
}

/// A linear layer y = x · Wᵀ + b with W of shape (outFeatures, inFeatures).
public struct Linear: @unchecked Sendable {
    public let weight: WeightMatrix
    public let bias: FloatTensor?
    public var outFeatures: Int { weight.rows }
    public var inFeatures: Int { weight.cols }

    /// x: (t, in) -> y: (t, out)
    public func callAsFunction(_ x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
        weight.multiply(x, t: t, into: y, pool: pool)
        if let bias {
            let b = bias.pointer, n = outFeatures
            for r in 0..<t { let row = y + r * n; for i in 0..<n { row[i] += b[i] } }
        }
    }
}

public struct Norm: @unchecked Sendable {
    public let weight: FloatTensor
    public let bias: FloatTensor?
}

public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: Norm
    public var q: Linear?, k: Linear?, v: Linear?
    public var qkv: Linear?
    public var o: Linear
    public var qNorm: FloatTensor?, kNorm: FloatTensor?   // (heads, headDim)
    public var mlpNorm: Norm?
    public var gate: Linear?
    public var up: Linear
    public var down: Linear
}

extension WeightMatrix {
    /// True for a quantized matrix in the interleaved layout.
    public var isInterleaved: Bool {
        if case .quantized(let q, _) = self { return q.layout == .interleaved16 }
        return false
    }
}

public struct DecoderWeights: @unchecked Sendable {
    public var embedding: WeightMatrix       // (vocab, hidden)
    public var layers: [LayerWeights]
    public var finalNorm: Norm
    public var output: WeightMatrix          // (vocab, hidden); the embedding when tied

    /// Bytes of weights read to produce one token: every matrix once, plus one embedding row.
    public var bytesPerToken: Int {
        var total = output.byteCount + embedding.byteCount / max(embedding.rows, 1)
        for l in layers {
            for m in [l.q, l.k, l.v, l.qkv, l.o, l.gate, l.up, l.down] { total += m?.weight.byteCount ?? 0 }
        }
        return total
    }
}

/// Finds tensors by role in one checkpoint, in its own naming.
struct WeightLookup {
    let sources: [TensorSource]       // HF shards or one GGUF
    let isGGUF: Bool
    let config: ModelConfig
    let path: String
    /// Keep GGUF quantized matrices packed (fast path) or dequantize them to Float32 at load (reference path).
    var keepQuantized = true

    func name(_ role: WeightRole, _ layer: Int) -> String {
        isGGUF ? role.ggufName(layer: layer) : role.hfName(config.architecture, layer: layer)
    }

    func find(_ name: String) -> (TensorSource, TensorInfo)? {
        for s in sources { if let i = s.tensorInfos[name] { return (s, i) } }
        return nil
    }

    func tensor(_ name: String, shape: [Int]) throws -> FloatTensor {
        guard let (source, info) = find(name) else { throw CheckpointError.missingTensor(path: path, name: name) }
        // GGUF stores vectors as 1-D and so does HF; compare element order-independent shapes exactly.
        guard info.shape == shape else {
            throw CheckpointError.shapeMismatch(path: source.path, tensor: name, expected: shape, found: info.shape)
        }
        if info.type == .f32, Int(bitPattern: source.rawData(info)) % MemoryLayout<Float>.alignment == 0 {
            let p = source.rawData(info).assumingMemoryBound(to: Float.self)
            return FloatTensor(mapped: p, shape: shape, keepAlive: source)
        }
        return FloatTensor(values: try source.floats(info), shape: shape)
    }

    /// A matrix: kept packed when it is of a quantized type with a fast dot product, else Float32.
    func matrix(_ name: String, shape: [Int]) throws -> WeightMatrix {
        guard let (source, info) = find(name) else { throw CheckpointError.missingTensor(path: path, name: name) }
        if keepQuantized, info.type.isQuantized, QuantizedDot.activationType(for: info.type) != nil, info.shape == shape {
            let q = try QuantizedMatrix(type: info.type, rows: shape[0], cols: shape[1], data: source.rawData(info))
            return .quantized(q, owner: source)
        }
        let raw = source.rawData(info)
        if keepQuantized, info.type == .f16 || info.type == .bf16, info.shape == shape, Int(bitPattern: raw) % 2 == 0 {
            let h = DenseMatrix(element: info.type == .f16 ? .f16 : .bf16, rows: shape[0], cols: shape[1], data: raw)
            return .half(h, owner: source)
        }
        return .dense(try tensor(name, shape: shape))
    }

    func optional(_ role: WeightRole, _ layer: Int, shape: [Int]) throws -> FloatTensor? {
        let n = name(role, layer)
        guard find(n) != nil else { return nil }
        return try tensor(n, shape: shape)
    }

    func required(_ role: WeightRole, _ layer: Int, shape: [Int]) throws -> FloatTensor {
        try tensor(name(role, layer), shape: shape)
    }

    func linear(_ w: WeightRole, _ b: WeightRole?, _ layer: Int, out: Int, in inF: Int, bias: Bool) throws -> Linear {
        let weight = try matrix(name(w, layer), shape: [out, inF])
        let biasTensor = (bias && b != nil) ? try required(b!, layer, shape: [out]) : nil
        return Linear(weight: weight, bias: biasTensor)
    }

    /// Per-head q/k norm weights as (heads, headDim): one stacked GGUF tensor, or HF's one tensor per head.
    func headNorm(_ role: WeightRole, _ layer: Int, heads: Int) throws -> FloatTensor {
        let d = config.headDim
        if isGGUF { return try required(role, layer, shape: [heads, d]) }
        var values: [Float] = []
        values.reserveCapacity(heads * d)
        let prefix = name(role, layer)
        for h in 0..<heads { values += try tensor("\(prefix)\(h).weight", shape: [d]).array }
        return FloatTensor(values: values, shape: [heads, d])
    }

    func load() throws -> DecoderWeights {
        let c = config
        let hidden = c.hiddenSize, qDim = c.numHeads * c.headDim, kvDim = c.numKVHeads * c.headDim
        let layerNormBias = c.norm == .layerNorm
        var layers: [LayerWeights] = []
        for l in 0..<c.numLayers {
            let attnNorm = Norm(weight: try required(.attnNormWeight, l, shape: [hidden]),
                                bias: layerNormBias ? try optional(.attnNormBias, l, shape: [hidden]) : nil)
            var q: Linear?, k: Linear?, v: Linear?, qkv: Linear?
            if c.fusedQKV != nil {
                qkv = try linear(.qkv, .qkvBias, l, out: qDim + 2 * kvDim, in: hidden, bias: c.qkvBias)
            } else {
                q = try linear(.q, .qBias, l, out: qDim, in: hidden, bias: c.qkvBias)
                k = try linear(.k, .kBias, l, out: kvDim, in: hidden, bias: c.qkvBias)
                v = try linear(.v, .vBias, l, out: kvDim, in: hidden, bias: c.qkvBias)
            }
            let o = try linear(.o, .oBias, l, out: hidden, in: qDim, bias: c.outputBias)
            let qNorm = c.qkNorm ? try headNorm(.qNorm, l, heads: c.numHeads) : nil
            let kNorm = c.qkNorm ? try headNorm(.kNorm, l, heads: c.numKVHeads) : nil
            // StableLM with a parallel residual has no second norm; GPT-NeoX's parallel residual does.
            var mlpNorm: Norm?
            if let w = try optional(.mlpNormWeight, l, shape: [hidden]) {
                mlpNorm = Norm(weight: w, bias: layerNormBias ? try optional(.mlpNormBias, l, shape: [hidden]) : nil)
            } else if !(c.parallelResidual && c.architecture == .stablelm) {
                throw CheckpointError.missingTensor(path: path, name: name(.mlpNormWeight, l))
            }
            let gate = c.mlp == .gatedSiLU ? try linear(.gate, nil, l, out: c.intermediateSize, in: hidden, bias: false) : nil
            let up = try linear(.up, .upBias, l, out: c.intermediateSize, in: hidden, bias: c.mlpBias)
            let down = try linear(.down, .downBias, l, out: hidden, in: c.intermediateSize, bias: c.mlpBias)
            layers.append(LayerWeights(attnNorm: attnNorm, q: q, k: k, v: v, qkv: qkv, o: o, qNorm: qNorm, kNorm: kNorm,
                                       mlpNorm: mlpNorm, gate: gate, up: up, down: down))
        }
        let embedding = try matrix(name(.tokenEmbedding, 0), shape: [c.vocabSize, hidden])
        let finalNorm = Norm(weight: try required(.finalNormWeight, 0, shape: [hidden]),
                             bias: layerNormBias ? try optional(.finalNormBias, 0, shape: [hidden]) : nil)
        let output = c.tieWordEmbeddings ? embedding : try matrix(name(.output, 0), shape: [c.vocabSize, hidden])
        return DecoderWeights(embedding: embedding, layers: layers, finalNorm: finalNorm, output: output)
    }
}
