// LoRA: a linear layer's weight plus a trained low-rank update, W' = W + (α/r)·B·A with A: (r, in) and
// B: (out, r), as PEFT defines it. The update runs beside the frozen weight (which may stay quantized)
// rather than merged into it, so one base serves any adapter; `hayai merge` folds it in.
import Foundation
import Checkpoints
import Kernels
import CKernels

public struct LoRAAdapter: @unchecked Sendable {
    public let a: FloatTensor      // (rank, in)
    public let b: FloatTensor      // (out, rank)
    public let scale: Float        // lora_alpha / r
    public var rank: Int { a.shape[0] }
    /// Training only: dropout on the adapter's input (PEFT's lora_dropout), and this adapter's salt for its mask.
    public var dropout: LoRADropout?
    public var dropoutSalt: UInt64 = 0

    public init(a: FloatTensor, b: FloatTensor, scale: Float) { self.a = a; self.b = b; self.scale = scale }

    /// The dropout that applies to this pass (nil when there is none or it is switched off).
    public var activeDropout: LoRADropout? { dropout.flatMap { $0.isActive ? $0 : nil } }

    /// Rows per block of the low-rank products (`add`, and training's backward): each block is one
    /// single-threaded sgemm per product, the blocks spread over a pool. A product with r = 8 columns
    /// ran slower on OpenBLAS's two threads than on one (n = 1024, in/out 576–1536: 0.2–0.56 ms against
    /// 0.11–0.35 ms a call); the fixed blocks keep the results the same on any thread count.
    nonisolated(unsafe) public static var rowsPerBlock = 256

    /// Row blocks of `t` rows: (first row, rows), `rowsPerBlock` each.
    public static func rowBlocks(_ t: Int) -> [(r0: Int, rows: Int)] {
        stride(from: 0, to: t, by: rowsPerBlock).map { ($0, min(rowsPerBlock, t - $0)) }
    }

    /// y (t, out) += scale · (dropout(x) Aᵀ) Bᵀ for x: (t, in), in row blocks (see rowsPerBlock), on `pool`'s
    /// threads when given. `batchInvariant` takes the rows one by one in C (hayai_lora_rows), each in an order
    /// of its own: sgemm's result for a row can depend on how many rows it multiplies at once.
    func add(_ x: UnsafePointer<Float>, t: Int, inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>,
             batchInvariant: Bool = false, pool: ThreadPool? = nil) {
        let r = rank
        func rowByRow(_ input: UnsafePointer<Float>) {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: r * outFeatures) { buffer in
                let bt = buffer.baseAddress!, b = self.b.pointer
                for o in 0..<outFeatures { for k in 0..<r { bt[k * outFeatures + o] = b[o * r + k] } }
                let pieces = (t + 15) / 16, a = self.a.pointer, scale = self.scale
                let piece = { (p: Int) in
                    let r0 = p * 16
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: r) { xa in
                        hayai_lora_rows(input + r0 * inFeatures, Int32(min(16, t - r0)), Int32(inFeatures), a, Int32(r), bt,
                                        Int32(outFeatures), scale, y + r0 * outFeatures, xa.baseAddress!)
                    }
                }
                if let pool, pool.threads > 1, pieces > 1 { pool.parallelFor(count: pieces, body: piece) } else { for p in 0..<pieces { piece(p) } }
            }
        }
        func run(_ input: UnsafePointer<Float>) {
            if batchInvariant { return rowByRow(input) }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: t * r) { buffer in
                let xa = buffer.baseAddress!, blocks = Self.rowBlocks(t)
                let block = { (i: Int) in
                    let (r0, m) = blocks[i]
                    BLAS.gemm(transA: false, transB: true, m: m, n: r, k: inFeatures, a: input + r0 * inFeatures, lda: inFeatures,
                              b: a.pointer, ldb: inFeatures, c: xa + r0 * r, ldc: r)
                    BLAS.gemm(transA: false, transB: true, m: m, n: outFeatures, k: r, alpha: scale, a: xa + r0 * r, lda: r,
                              b: b.pointer, ldb: r, beta: 1, c: y + r0 * outFeatures, ldc: outFeatures)
                }
                if let pool, pool.threads > 1, blocks.count > 1 {
                    BLAS.withSingleThread { pool.parallelFor(count: blocks.count, body: block) }
                } else {
                    for i in blocks.indices { block(i) }
                }
            }
        }
        guard let d = activeDropout else { return run(x) }
        let dropped = UnsafeMutablePointer<Float>.allocate(capacity: t * inFeatures)
        defer { dropped.deallocate() }
        d.apply(x, count: t * inFeatures, salt: dropoutSalt, into: dropped)
        run(dropped)
    }

    /// `add` without dropout in plain loops, the definition hayai_lora_rows is tested against.
    func referenceAdd(_ x: UnsafePointer<Float>, t: Int, inFeatures: Int, outFeatures: Int, into y: UnsafeMutablePointer<Float>) {
        for i in 0..<t {
            let xa = (0..<rank).map { k in scale * (0..<inFeatures).reduce(Float(0)) { $0 + x[i * inFeatures + $1] * a.pointer[k * inFeatures + $1] } }
            for o in 0..<outFeatures {
                y[i * outFeatures + o] += (0..<rank).reduce(Float(0)) { $0 + xa[$1] * b.pointer[o * rank + $1] }
            }
        }
    }
}

/// PEFT's lora_dropout: while training, each adapter sees its input with elements zeroed at rate p
/// and the rest scaled by 1/(1−p) (the frozen weight sees x unchanged). The mask is a hash of (seed,
/// pass, adapter, element) rather than a stored tensor, so the backward regenerates exactly the
/// forward's mask without holding one per adapted layer. Each training forward is a new pass.
public final class LoRADropout: @unchecked Sendable {
    public let p: Float
    public let seed: UInt64
    /// Which pass's masks apply; the trainer advances it once per forward.
    public var pass: UInt64 = 0
    /// Off for validation and inference: the adapter then sees x itself.
    public var enabled = true
    public var isActive: Bool { enabled && p > 0 }

    public init(p: Float, seed: UInt64) { self.p = p; self.seed = seed }

    /// 0 or 1/(1−p) for element `i` of the adapter salted `salt` in the current pass.
    @inline(__always) public func factor(salt: UInt64, index i: Int) -> Float {
        var z = seed &+ pass &* 0x9E37_79B9_7F4A_7C15 &+ salt &* 0xBF58_476D_1CE4_E5B9 &+ UInt64(i) &* 0x94D0_49BB_1331_11EB
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = Float(z >> 40) * (1 / Float(1 << 24))   // uniform in [0, 1)
        return u < p ? 0 : 1 / (1 - p)
    }

    /// out[i] = x[i] · factor(i).
    public func apply(_ x: UnsafePointer<Float>, count: Int, salt: UInt64, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { out[i] = x[i] * factor(salt: salt, index: i) }
    }

    /// dx[i] += g[i] · factor(i): the gradient through the dropout back to its input.
    public func addGradient(_ g: UnsafePointer<Float>, count: Int, salt: UInt64, into dx: UnsafeMutablePointer<Float>) {
        for i in 0..<count { dx[i] += g[i] * factor(salt: salt, index: i) }
    }

    /// `adapters` with this dropout, each with its own salt (from its layer and role) so no two share a mask.
    public func attach(to adapters: [WeightKey: LoRAAdapter]) -> [WeightKey: LoRAAdapter] {
        var out: [WeightKey: LoRAAdapter] = [:]
        for (key, adapter) in adapters {
            var a = adapter
            a.dropout = self
            let roleIndex = WeightRole.allCases.firstIndex(of: key.role) ?? 0
            a.dropoutSalt = UInt64((key.layer ?? 0) + 1) &* 1000 &+ UInt64(roleIndex)
            out[key] = a
        }
        return out
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
    /// PEFT's lora_dropout on the adapters' input while training (0: none).
    public var dropout: Double = 0
    public var scale: Float { Float(alpha / Double(rank)) }

    public init(rank: Int, alpha: Double, targets: [LoRATarget], dropout: Double = 0) {
        self.rank = rank; self.alpha = alpha; self.targets = targets; self.dropout = dropout
    }

    enum CodingKeys: String, CodingKey { case rank, alpha, targets, dropout }

    /// Settings recorded before dropout existed decode with none.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decode(Int.self, forKey: .rank)
        alpha = try c.decode(Double.self, forKey: .alpha)
        targets = try c.decode([LoRATarget].self, forKey: .targets)
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? 0
    }

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
        guard dropout >= 0 && dropout < 1 else { throw InferenceError.badAdapter(path: "--lora-dropout", what: "the dropout rate must be in [0, 1)") }
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
