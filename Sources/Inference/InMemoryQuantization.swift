// Models quantized in memory, without a file: an existing model's matrices re-encoded with the
// types `hayai quantize` would write (QuantizationPlan), and synthetic models of a named shape with
// random weights, which let `hayai bench --synthetic` measure the engine without a download.
import Foundation
import Checkpoints
import Kernels

/// Bytes owned by a weight matrix built in memory (64-byte aligned).
final class OwnedBytes {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) {
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }
    deinit { pointer.deallocate() }
}

extension WeightMatrix {
    /// `rows` × `cols` floats encoded as `type` (F32, F16 or a type with a quantized dot product).
    public static func encoding(_ values: UnsafePointer<Float>, rows: Int, cols: Int, as type: GGMLType) throws -> WeightMatrix {
        switch type {
        case .f32:
            return .dense(FloatTensor(values: Array(UnsafeBufferPointer(start: values, count: rows * cols)), shape: [rows, cols]))
        case .f16:
            let owner = OwnedBytes(count: rows * cols * 2)
            FastOps.floatToHalf(values, owner.pointer.assumingMemoryBound(to: UInt16.self), count: rows * cols)
            return .half(DenseMatrix(element: .f16, rows: rows, cols: cols, data: owner.pointer), owner: owner)
        default:
            guard let rowBytes = type.byteCount(elements: cols) else { throw QuantizedMatrixError.partialBlocks(type, cols: cols) }
            let owner = OwnedBytes(count: rows * rowBytes)
            let chunk = 256, pieces = (rows + chunk - 1) / chunk
            let dst = owner.pointer
            DispatchQueue.concurrentPerform(iterations: pieces) { p in
                let r0 = p * chunk, n = min(chunk, rows - r0)
                try! quantizeReference(type, values + r0 * cols, dst + r0 * rowBytes, count: n * cols)
            }
            return .quantized(try QuantizedMatrix(type: type, rows: rows, cols: cols, data: owner.pointer), owner: owner)
        }
    }

    /// The whole matrix as floats.
    public func floats() -> [Float] {
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { o in for r in 0..<rows { copyRow(r, into: o.baseAddress! + r * cols) } }
        return out
    }
}

extension DecoderWeights {
    /// Every matrix with its GGUF name, rebuilt by `body` (the embedding once when tied).
    func mapMatrices(tied: Bool, _ body: (String, WeightMatrix) throws -> WeightMatrix) rethrows -> DecoderWeights {
        var w = self
        for i in 0..<w.layers.count {
            w.layers[i] = try w.layers[i].mapLinears { role, l in Linear(weight: try body(role.ggufName(layer: i), l.weight), bias: l.bias) }
        }
        w.embedding = try body("token_embd.weight", embedding)
        w.output = tied ? w.embedding : try body("output.weight", output)
        return w
    }
}

extension DecoderWeights {
    /// Every quantized matrix of a type with x16 kernels but an untied token embedding repacked for the AVX512-VNNI kernels
    /// (QuantizedMatrix.interleaved(into:)), all into one buffer: it is mapped with huge pages, which
    /// streamed ~15% faster than 4 KiB pages here (fewer TLB misses), and per-matrix buffers of a few
    /// MiB would not get them.
    func interleaved(tied: Bool) -> DecoderWeights {
        func candidate(_ name: String, _ m: WeightMatrix) -> QuantizedMatrix? {
            guard name != "token_embd.weight" || tied, case .quantized(let q, _) = m, q.canInterleave else { return nil }
            return q
        }
        var total = 0
        _ = mapMatrices(tied: tied) { name, m in
            if let q = candidate(name, m) { total += (q.rows * q.rowBytes + 63) / 64 * 64 }
            return m
        }
        guard total > 0 else { return self }
        let arena = AlignedBytes(count: total)
        var offset = 0
        return mapMatrices(tied: tied) { name, m in
            guard let q = candidate(name, m) else { return m }
            let packed = q.interleaved(into: arena.pointer + offset)
            offset += (q.rows * q.rowBytes + 63) / 64 * 64
            return .quantized(packed, owner: arena)
        }
    }
}

extension Model {
    /// This model with its matrices re-encoded as `hayai quantize --type target` would write them
    /// (same types per tensor, same quantizer), kept in memory.
    public func quantized(to target: QuantizeTarget) throws -> Model {
        let tied = config.tieWordEmbeddings
        let w = try weights.mapMatrices(tied: tied) { name, m in
            let type = QuantizationPlan.type(for: name, shape: [m.rows, m.cols], target: target, layerCount: config.numLayers, hasOutput: !tied,
                                             queryGroups: config.numHeads / config.numKVHeads)
            let values = m.floats()
            return try values.withUnsafeBufferPointer { try WeightMatrix.encoding($0.baseAddress!, rows: m.rows, cols: m.cols, as: type) }
        }
        return Model(config: config, weights: w, path: "\(path) (\(target) in memory)", sources: sources, tokenizer: tokenizer)
    }
}

/// Shapes of published models, for benchmarks without a download.
public enum SyntheticShape: String, CaseIterable, Sendable {
    case stablelm2_1_6b = "stablelm-2-1.6b", stablelm3b4e1t = "stablelm-3b-4e1t", tiny

    public var config: ModelConfig {
        switch self {
        case .stablelm2_1_6b:   // stabilityai/stablelm-2-1_6b config.json
            return ModelConfig(architecture: .stablelm, vocabSize: 100352, hiddenSize: 2048, intermediateSize: 5632, numLayers: 24,
                               numHeads: 32, numKVHeads: 32, maxPositions: 4096, norm: .layerNorm, normEps: 1e-5, rotaryDim: 16,
                               ropeTheta: 10000, parallelResidual: false, qkvBias: true, outputBias: false, mlpBias: false,
                               qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        case .stablelm3b4e1t:   // stabilityai/stablelm-3b-4e1t
            return ModelConfig(architecture: .stablelm, vocabSize: 50304, hiddenSize: 2560, intermediateSize: 6912, numLayers: 32,
                               numHeads: 32, numKVHeads: 32, maxPositions: 4096, norm: .layerNorm, normEps: 1e-5, rotaryDim: 20,
                               ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false, mlpBias: false,
                               qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        case .tiny:             // the stablelm-tiny fixture's shape
            return ModelConfig(architecture: .stablelm, vocabSize: 2000, hiddenSize: 64, intermediateSize: 176, numLayers: 2,
                               numHeads: 4, numKVHeads: 4, maxPositions: 256, norm: .layerNorm, normEps: 1e-5, rotaryDim: 4,
                               ropeTheta: 10000, parallelResidual: false, qkvBias: false, outputBias: false, mlpBias: false,
                               qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        }
    }
}

extension Model {
    /// Random weights of `shape`, each matrix encoded directly in the type `hayai quantize --type
    /// target` would give it. To build GBs quickly, a matrix repeats a block of 64 random rows
    /// (quantized once); speed does not depend on the values.
    public static func synthetic(_ shape: SyntheticShape, target: QuantizeTarget, seed: UInt64 = 1) throws -> Model {
        try synthetic(config: shape.config, target: target, seed: seed, path: "synthetic \(shape.rawValue)")
    }

    /// The same for any config (every weight its DecoderPlan lists); `interleave` as in `init`.
    public static func synthetic(config c: ModelConfig, target: QuantizeTarget, seed: UInt64 = 1, path: String = "synthetic",
                                 interleave: Bool = true) throws -> Model {
        var rng = SeededGenerator(seed: seed)
        func vector(_ shape: [Int], around v: Float) -> FloatTensor {
            FloatTensor(values: (0..<shape.reduce(1, *)).map { _ in v + Float.random(in: -0.02...0.02, using: &rng) }, shape: shape)
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> WeightMatrix {
            let type = QuantizationPlan.type(for: name, shape: [rows, cols], target: target, layerCount: c.numLayers, hasOutput: !c.tieWordEmbeddings,
                                             queryGroups: c.numHeads / c.numKVHeads)
            let block = min(rows, 64)
            let scale = 1 / Float(cols).squareRoot()
            let sample = (0..<block * cols).map { _ in Float.random(in: -scale...scale, using: &rng) * 1.7 }
            let small = try sample.withUnsafeBufferPointer { try WeightMatrix.encoding($0.baseAddress!, rows: block, cols: cols, as: type) }
            switch small {
            case .dense:
                var all = [Float](repeating: 0, count: rows * cols)
                for r in 0..<rows { for j in 0..<cols { all[r * cols + j] = sample[(r % block) * cols + j] } }
                return try all.withUnsafeBufferPointer { try WeightMatrix.encoding($0.baseAddress!, rows: rows, cols: cols, as: .f32) }
            case .half(let h, _):
                let owner = OwnedBytes(count: rows * h.rowBytes)
                for r in 0..<rows { (owner.pointer + r * h.rowBytes).copyMemory(from: h.data + (r % block) * h.rowBytes, byteCount: h.rowBytes) }
                return .half(DenseMatrix(element: .f16, rows: rows, cols: cols, data: owner.pointer), owner: owner)
            case .quantized(let q, _):
                let owner = OwnedBytes(count: rows * q.rowBytes)
                for r in 0..<rows { (owner.pointer + r * q.rowBytes).copyMemory(from: q.data + (r % block) * q.rowBytes, byteCount: q.rowBytes) }
                return .quantized(try QuantizedMatrix(type: q.type, rows: rows, cols: cols, data: owner.pointer), owner: owner)
            }
        }
        // Every weight the decoder plan lists: matrices as above, norm weights near 1, biases near 0.
        let plan = DecoderPlan(config: c)
        let normWeights: Set<WeightRole> = [.attnNormWeight, .mlpNormWeight, .finalNormWeight, .qNorm, .kNorm]
        var loaded: [WeightKey: LoadedWeight] = [:]
        for w in plan.weights {
            switch w.kind {
            case .matrix:
                loaded[WeightKey(w.role, w.layer)] = .matrix(try matrix(w.ggufName, w.shape[0], w.shape[1]))
            case .vector, .headNorm:
                loaded[WeightKey(w.role, w.layer)] = .vector(vector(w.shape, around: normWeights.contains(w.role) ? 1 : 0))
            }
        }
        let weights = DecoderWeights(plan: plan, path: path) { loaded[WeightKey($0, $1)] }
        return Model(config: c, weights: weights, path: path, sources: [], interleave: interleave)
    }
}

