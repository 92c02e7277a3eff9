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

    /// A view of floats that `keepAlive` owns (a mapped file, a parameter buffer).
    public init(mapped pointer: UnsafePointer<Float>, shape: [Int], keepAlive: AnyObject) {
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
    /// `batchInvariant`: a quantized matrix multiplies every row with integer dots on quantized activations, as
    /// one token does, so a row's result does not depend on how many rows share the call (see
    /// QuantizedMatrix.preferredStrategy, which otherwise sends many rows of the GGUF layout to sgemm).
    public func multiply(_ x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?,
                         batchInvariant: Bool = false) {
        switch self {
        case .dense(let w): DenseMatrix(element: .f32, rows: rows, cols: cols, data: w.pointer).matMul(x: x, t: t, into: y, pool: pool)
        case .half(let h, _): h.matMul(x: x, t: t, into: y, pool: pool)
        case .quantized(let q, _): q.matMul(x: x, t: t, into: y, pool: pool, strategy: batchInvariant ? .quantizedDots : nil)
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

/// A linear layer y = x · Wᵀ + b (+ a LoRA update) with W of shape (outFeatures, inFeatures).
public struct Linear: @unchecked Sendable {
    public let weight: WeightMatrix
    public let bias: FloatTensor?
    /// A low-rank update trained beside the frozen weight (LoRA.swift).
    public var lora: LoRAAdapter?
    public var outFeatures: Int { weight.rows }
    public var inFeatures: Int { weight.cols }

    public init(weight: WeightMatrix, bias: FloatTensor?) { self.weight = weight; self.bias = bias }

    /// x: (t, in) -> y: (t, out); `batchInvariant` as in WeightMatrix.multiply (and LoRAAdapter.add). The LoRA
    /// update runs on `adapterPool` (else `pool`, else BLAS's threads).
    public func callAsFunction(_ x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil,
                               batchInvariant: Bool = false, adapterPool: ThreadPool? = nil) {
        weight.multiply(x, t: t, into: y, pool: pool, batchInvariant: batchInvariant)
        lora?.add(x, t: t, inFeatures: inFeatures, outFeatures: outFeatures, into: y, batchInvariant: batchInvariant, pool: adapterPool ?? pool)
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

/// q, k and v projections: three matrices, or one fused matrix in a layout.
public enum QKVWeights: @unchecked Sendable {
    case separate(q: Linear, k: Linear, v: Linear)
    case fused(Linear, FusedQKVLayout)
}

/// The MLP's input projections (the down projection is in every MLP).
public enum MLPWeights: @unchecked Sendable {
    case gated(gate: Linear, up: Linear)
    case plain(up: Linear)

    public var up: Linear {
        switch self { case .gated(_, let up), .plain(let up): return up }
    }
}

/// How the layer meets the residual stream, with the MLP's norm where it has one (see ResidualWiring).
public enum BlockWiring: @unchecked Sendable {
    case sequential(mlpNorm: Norm)
    case parallel(mlpNorm: Norm)
    case parallelSharedNorm
}

/// Per-head norm weights on q and k, (heads, headDim) and (kvHeads, headDim).
public struct HeadNorms: @unchecked Sendable {
    public let q: FloatTensor
    public let k: FloatTensor
}

public struct LayerWeights: @unchecked Sendable {
    public var attnNorm: Norm
    public var qkv: QKVWeights
    public var o: Linear
    public var qkNorm: HeadNorms?
    public var wiring: BlockWiring
    public var mlp: MLPWeights
    public var down: Linear

    /// Every linear layer with its role, in plan order.
    public var linears: [(WeightRole, Linear)] {
        var all: [(WeightRole, Linear)] = []
        switch qkv {
        case .separate(let q, let k, let v): all += [(.q, q), (.k, k), (.v, v)]
        case .fused(let l, _): all.append((.qkv, l))
        }
        all.append((.o, o))
        switch mlp {
        case .gated(let gate, let up): all += [(.gate, gate), (.up, up)]
        case .plain(let up): all.append((.up, up))
        }
        all.append((.down, down))
        return all
    }

    /// This layer with every linear layer rebuilt by `body`.
    public func mapLinears(_ body: (WeightRole, Linear) throws -> Linear) rethrows -> LayerWeights {
        var l = self
        switch qkv {
        case .separate(let q, let k, let v): l.qkv = .separate(q: try body(.q, q), k: try body(.k, k), v: try body(.v, v))
        case .fused(let w, let layout): l.qkv = .fused(try body(.qkv, w), layout)
        }
        l.o = try body(.o, o)
        switch mlp {
        case .gated(let gate, let up): l.mlp = .gated(gate: try body(.gate, gate), up: try body(.up, up))
        case .plain(let up): l.mlp = .plain(up: try body(.up, up))
        }
        l.down = try body(.down, down)
        return l
    }
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

    public init(embedding: WeightMatrix, layers: [LayerWeights], finalNorm: Norm, output: WeightMatrix) {
        self.embedding = embedding; self.layers = layers; self.finalNorm = finalNorm; self.output = output
    }

    /// Bytes of weights read to produce one token: every matrix once, plus one embedding row.
    public var bytesPerToken: Int {
        var total = output.byteCount + embedding.byteCount / max(embedding.rows, 1)
        for l in layers { for (_, m) in l.linears { total += m.weight.byteCount } }
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

    /// Refuses a tensor that holds NaN or infinity (one pass over it, see FiniteScan), naming it.
    func checkFinite(_ source: TensorSource, _ info: TensorInfo) throws {
        if let i = FiniteScan.firstNonFinite(info.type, source.rawData(info), elements: info.elementCount) {
            throw CheckpointError.malformed(path: source.path, what: "tensor \(info.name) holds NaN or infinity (element \(i))")
        }
    }

    func tensor(_ name: String, shape: [Int], scanned: Bool = false) throws -> FloatTensor {
        guard let (source, info) = find(name) else { throw CheckpointError.missingTensor(path: path, name: name) }
        // GGUF stores vectors as 1-D and so does HF; compare element order-independent shapes exactly.
        guard info.shape == shape else {
            throw CheckpointError.shapeMismatch(path: source.path, tensor: name, expected: shape, found: info.shape)
        }
        if !scanned { try checkFinite(source, info) }
        if info.type == .f32, Int(bitPattern: source.rawData(info)) % MemoryLayout<Float>.alignment == 0 {
            let p = source.rawData(info).assumingMemoryBound(to: Float.self)
            return FloatTensor(mapped: p, shape: shape, keepAlive: source)
        }
        return FloatTensor(values: try source.floats(info), shape: shape)
    }

    /// A matrix: kept packed when it is of a quantized type with a fast dot product, else Float32.
    func matrix(_ name: String, shape: [Int]) throws -> WeightMatrix {
        guard let (source, info) = find(name) else { throw CheckpointError.missingTensor(path: path, name: name) }
        try checkFinite(source, info)
        if keepQuantized, info.type.isQuantized, QuantizedDot.activationType(for: info.type) != nil, info.shape == shape {
            let q = try QuantizedMatrix(type: info.type, rows: shape[0], cols: shape[1], data: source.rawData(info))
            return .quantized(q, owner: source)
        }
        let raw = source.rawData(info)
        if keepQuantized, info.type == .f16 || info.type == .bf16, info.shape == shape, Int(bitPattern: raw) % 2 == 0 {
            let h = DenseMatrix(element: info.type == .f16 ? .f16 : .bf16, rows: shape[0], cols: shape[1], data: raw)
            return .half(h, owner: source)
        }
        return .dense(try tensor(name, shape: shape, scanned: true))
    }

    /// One planned weight: a matrix (kept packed where it can be), a vector, or per-head norms;
    /// nil for an optional one the checkpoint lacks.
    private func load(_ w: PlannedWeight) throws -> LoadedWeight? {
        switch w.kind {
        case .matrix:
            return .matrix(try matrix(w.name(isGGUF: isGGUF, config.architecture)[0], shape: w.shape))
        case .vector:
            let n = w.name(isGGUF: isGGUF, config.architecture)[0]
            if w.requirement == .optional, find(n) == nil { return nil }
            return .vector(try tensor(n, shape: w.shape))
        case .headNorm:
            if isGGUF { return .vector(try tensor(w.ggufName, shape: w.shape)) }
            var values: [Float] = []
            values.reserveCapacity(w.count)
            for n in w.hfNames(config.architecture) { values += try tensor(n, shape: w.hfShape).array }
            return .vector(FloatTensor(values: values, shape: w.shape))
        }
    }

    /// Every weight of the plan, assembled into the decoder's structure.
    func load() throws -> DecoderWeights {
        let plan = DecoderPlan(config: config)
        var loaded: [WeightKey: LoadedWeight] = [:]
        for w in plan.weights { loaded[WeightKey(w.role, w.layer)] = try load(w) }
        return DecoderWeights(plan: plan, path: path) { role, layer in loaded[WeightKey(role, layer)] }
    }
}

extension DecoderWeights {
    /// The weight of one planned (role, layer): the inverse of init(plan:path:_:); nil where the plan has none.
    public func weight(_ role: WeightRole, _ layer: Int?) -> LoadedWeight? {
        guard let l = layer else {
            switch role {
            case .tokenEmbedding: return .matrix(embedding)
            case .output: return .matrix(output)
            case .finalNormWeight: return .vector(finalNorm.weight)
            case .finalNormBias: return finalNorm.bias.map { .vector($0) }
            default: return nil
            }
        }
        let lw = layers[l]
        if let (_, linear) = lw.linears.first(where: { $0.0 == role }) { return .matrix(linear.weight) }
        func bias(of r: WeightRole) -> LoadedWeight? {
            lw.linears.first(where: { $0.0 == r })?.1.bias.map { .vector($0) }
        }
        var mlpNorm: Norm?
        switch lw.wiring {
        case .sequential(let n), .parallel(let n): mlpNorm = n
        case .parallelSharedNorm: mlpNorm = nil
        }
        switch role {
        case .attnNormWeight: return .vector(lw.attnNorm.weight)
        case .attnNormBias: return lw.attnNorm.bias.map { .vector($0) }
        case .mlpNormWeight: return mlpNorm.map { .vector($0.weight) }
        case .mlpNormBias: return mlpNorm?.bias.map { .vector($0) }
        case .qNorm: return lw.qkNorm.map { .vector($0.q) }
        case .kNorm: return lw.qkNorm.map { .vector($0.k) }
        case .qBias: return bias(of: .q)
        case .kBias: return bias(of: .k)
        case .vBias: return bias(of: .v)
        case .qkvBias: return bias(of: .qkv)
        case .oBias: return bias(of: .o)
        case .upBias: return bias(of: .up)
        case .downBias: return bias(of: .down)
        default: return nil
        }
    }
}

extension LoadedWeight {
    /// The values as Float32, row-major (quantized and half-precision matrices dequantized).
    public var floats: [Float] {
        switch self {
        case .matrix(let m): return m.floats()
        case .vector(let v): return v.array
        }
    }
}

/// A weight as loaded: a matrix for products, or a Float32 vector (norms, biases).
public enum LoadedWeight: @unchecked Sendable {
    case matrix(WeightMatrix)
    case vector(FloatTensor)
}

/// A planned weight's identity: its role and layer (nil for model-level weights).
public struct WeightKey: Hashable, Sendable {
    public let role: WeightRole, layer: Int?
    public init(_ role: WeightRole, _ layer: Int?) { self.role = role; self.layer = layer }
}

extension PlannedWeight {
    /// The names to look up in a GGUF file or a Hugging Face folder.
    func name(isGGUF: Bool, _ arch: Architecture) -> [String] { isGGUF ? [ggufName] : hfNames(arch) }
}

extension DecoderWeights {
    /// Assembles the weights the plan lists, asking `weight` for each (role, layer); a required one
    /// that is nil or of the wrong kind is a programmer error in the caller (loaders check presence).
    public init(plan: DecoderPlan, path: String, _ weight: (WeightRole, Int?) -> LoadedWeight?) {
        func matrix(_ r: WeightRole, _ l: Int?) -> WeightMatrix {
            guard case .matrix(let m) = weight(r, l) else { fatalError("\(path): no matrix for \(r) in layer \(l ?? -1)") }
            return m
        }
        func vector(_ r: WeightRole, _ l: Int?) -> FloatTensor? {
            guard case .vector(let v) = weight(r, l) else { return nil }
            return v
        }
        func required(_ r: WeightRole, _ l: Int?) -> FloatTensor {
            guard let v = vector(r, l) else { fatalError("\(path): no vector for \(r) in layer \(l ?? -1)") }
            return v
        }
        func linear(_ w: WeightRole, _ b: WeightRole, _ l: Int) -> Linear { Linear(weight: matrix(w, l), bias: vector(b, l)) }
        func norm(_ w: WeightRole, _ b: WeightRole, _ l: Int?) -> Norm { Norm(weight: required(w, l), bias: vector(b, l)) }
        let c = plan.config
        var layers: [LayerWeights] = []
        for l in 0..<c.numLayers {
            let qkv: QKVWeights
            switch plan.qkv {
            case .separate: qkv = .separate(q: linear(.q, .qBias, l), k: linear(.k, .kBias, l), v: linear(.v, .vBias, l))
            case .fused(let layout): qkv = .fused(linear(.qkv, .qkvBias, l), layout)
            }
            let wiring: BlockWiring
            switch plan.residual {
            case .sequential: wiring = .sequential(mlpNorm: norm(.mlpNormWeight, .mlpNormBias, l))
            case .parallel: wiring = .parallel(mlpNorm: norm(.mlpNormWeight, .mlpNormBias, l))
            case .parallelSharedNorm: wiring = .parallelSharedNorm
            }
            let mlp: MLPWeights
            switch plan.mlp {
            case .gated: mlp = .gated(gate: Linear(weight: matrix(.gate, l), bias: nil), up: linear(.up, .upBias, l))
            case .plain: mlp = .plain(up: linear(.up, .upBias, l))
            }
            layers.append(LayerWeights(
                attnNorm: norm(.attnNormWeight, .attnNormBias, l), qkv: qkv, o: linear(.o, .oBias, l),
                qkNorm: c.qkNorm ? HeadNorms(q: required(.qNorm, l), k: required(.kNorm, l)) : nil,
                wiring: wiring, mlp: mlp, down: linear(.down, .downBias, l)))
        }
        let embedding = matrix(.tokenEmbedding, nil)
        self.init(embedding: embedding, layers: layers, finalNorm: norm(.finalNormWeight, .finalNormBias, nil),
                  output: c.tieWordEmbeddings ? embedding : matrix(.output, nil))
    }
}
