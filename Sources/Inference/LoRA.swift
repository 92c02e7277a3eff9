// LoRA: a linear layer's weight plus a trained low-rank update, W' = W + (α/r)·B·A with A: (r, in) and
// B: (out, r), as PEFT defines it. The update runs beside the frozen weight (which may stay quantized)
// rather than merged into it, so one base serves any adapter; `hayai merge` folds it in.
import Foundation
import Checkpoints
import Kernels

public struct LoRAAdapter: @unchecked Sendable {
    public let a: FloatTensor      // (rank, in)
    public let b: FloatTensor      // (out, rank)
    public let scale: Float        // lora_alpha / r
    public var rank: Int { a.shape[0] }

    public init(a: FloatTensor, b: FloatTensor, scale: Float) { self.a = a; self.b = b; self.scale = scale }

    /// y (t, out) += scale · (x Aᵀ) Bᵀ for x: (t, in).
    func add(_ x: UnsafePointer<Float>, t: Int, inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        let r = rank
        withUnsafeTemporaryAllocation(of: Float.self, capacity: t * r) { xa in
            BLAS.gemm(transA: false, transB: true, m: t, n: r, k: inFeatures, a: x, lda: inFeatures, b: a.pointer, ldb: inFeatures,
                      c: xa.baseAddress!, ldc: r)
            BLAS.gemm(transA: false, transB: true, m: t, n: outFeatures, k: r, alpha: scale, a: xa.baseAddress!, lda: r,
                      b: b.pointer, ldb: r, beta: 1, c: y, ldc: outFeatures)
        }
    }
}

/// Which linear layers get adapters, by the names users give (`--lora-targets q,k,v,o,gate,up,down`).
public enum LoRATarget: String, CaseIterable, Codable, Sendable {
    case q, k, v, qkv, o, gate, up, down

    public var role: WeightRole {
        switch self {
        case .q: return .q
        case .k: return .k
        case .v: return .v
        case .qkv: return .qkv
        case .o: return .o
        case .gate: return .gate
        case .up: return .up
        case .down: return .down
        }
    }

    /// The Hugging Face module name in `arch` (PEFT's target_modules entry): q_proj, query_key_value, ...
    public func moduleName(_ arch: Architecture) -> String {
        let full = role.hfName(arch, layer: 0)
        let module = full.hasSuffix(".weight") ? String(full.dropLast(".weight".count)) : full
        return String(module.split(separator: ".").last!)
    }
}

/// An adapter's settings (PEFT's LoraConfig, the parts hayai uses).
public struct LoRASettings: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Double
    public var targets: [LoRATarget]
    public var scale: Float { Float(alpha / Double(rank)) }

    public init(rank: Int, alpha: Double, targets: [LoRATarget]) { self.rank = rank; self.alpha = alpha; self.targets = targets }

    /// Parses `q,k,v` against the model's plan: every name must be a target and be a linear layer the model has.
    public static func targets(_ list: String, plan: DecoderPlan) throws -> [LoRATarget] {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw InferenceError.badAdapter(path: "--lora-targets", what: "no targets given") }
        let present = Set(plan.weights.filter { $0.kind == .matrix && $0.layer != nil }.map(\.role))
        return try names.map { name in
            guard let t = LoRATarget(rawValue: name) else {
                throw InferenceError.badAdapter(path: "--lora-targets", what: "unknown target '\(name)' (known: \(LoRATarget.allCases.map(\.rawValue).joined(separator: ",")))")
            }
            guard present.contains(t.role) else {
                throw InferenceError.badAdapter(path: "--lora-targets", what: "this \(plan.config.architecture.rawValue) model has no '\(name)' projection"
                                                + (plan.qkv != .separate && [.q, .k, .v].contains(t) ? " (its q, k and v are fused: use qkv)" : ""))
            }
            return t
        }
    }

    /// The rank must fit every target's matrix (r ≤ min(out, in)).
    public func check(plan: DecoderPlan) throws {
        guard rank > 0 else { throw InferenceError.badAdapter(path: "--lora-rank", what: "the rank must be positive") }
        guard alpha > 0 else { throw InferenceError.badAdapter(path: "--lora-alpha", what: "alpha must be positive") }
        for t in targets {
            guard let w = plan.weights.first(where: { $0.role == t.role }) else { continue }
            guard rank <= min(w.shape[0], w.shape[1]) else {
                throw InferenceError.badAdapter(path: "--lora-rank", what: "rank \(rank) is larger than \(t.rawValue)'s dimensions \(w.shape[0])×\(w.shape[1])")
            }
        }
    }
}

extension Linear {
    public init(weight: WeightMatrix, bias: FloatTensor?, lora: LoRAAdapter?) {
        self.init(weight: weight, bias: bias)
        self.lora = lora
    }
}

extension DecoderWeights {
    /// These weights with `adapters[(role, layer)]` attached to their linear layers.
    public func attaching(_ adapters: [WeightKey: LoRAAdapter]) -> DecoderWeights {
        var w = self
        for l in 0..<w.layers.count {
            w.layers[l] = w.layers[l].mapLinears { role, linear in
                var out = linear
                if let a = adapters[WeightKey(role, l)] { out.lora = a }
                return out
            }
        }
        return w
    }
}

extension WeightMatrix {
    /// dx (t, cols) += dy (t, rows) · W, for a frozen weight of any storage: F32 straight through BLAS,
    /// F16/BF16 and quantized matrices a tile of rows at a time dequantized to Float32 (never a full copy).
    public func addInputGradient(dy: UnsafePointer<Float>, t: Int, into dx: UnsafeMutablePointer<Float>) {
        if case .dense(let w) = self {
            BLAS.gemm(transA: false, transB: false, m: t, n: cols, k: rows, a: dy, lda: rows, b: w.pointer, ldb: cols, beta: 1, c: dx, ldc: cols)
            return
        }
        let tileRows = Swift.max(1, Swift.min(rows, (1 << 18) / Swift.max(cols, 1)))
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * cols)
        defer { tile.deallocate() }
        var r0 = 0
        while r0 < rows {
            let n = Swift.min(tileRows, rows - r0)
            switch self {
            case .dense: break
            case .half(let h, _): h.rowsAsFloat(r0..<r0 + n, into: tile)
            case .quantized(let q, _): q.dequantizeRows(r0..<r0 + n, into: tile)
            }
            BLAS.gemm(transA: false, transB: false, m: t, n: cols, k: n, a: dy + r0, lda: rows, b: tile, ldb: cols, beta: 1, c: dx, ldc: cols)
            r0 += n
        }
    }
}
