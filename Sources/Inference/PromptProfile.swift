// Where the time of processing a prompt goes, op by op (`hayai bench --profile`): each kind of op of
// a forward pass over t tokens is run on its own, with the model's own matrices, shapes and thread
// pool, and timed; the forward pass itself is timed too. The ops between the products (norms and the
// residual adds fused with them; attention: q·k, softmax, ·v and the KV cache writes; rotary; other
// residual adds and copies; the MLP's activation)
// are timed inside forward passes with a StepProfile attached, and what nothing explains (the pool's
// synchronisation, the products' imbalance between threads) is the remainder. Ops run in isolation
// see warmer caches than inside the pass, so the shares are a guide to what bounds prompt
// processing, not an exact split.
import Foundation
import Kernels
import Checkpoints

public struct PromptProfile: Sendable {
    public struct Entry: Sendable {
        /// What ran ("matrices: mlp down", "norms", ...).
        public let op: String
        /// Seconds for the whole prompt (all layers).
        public let seconds: Double
        /// Multiply-adds of the op's matrix products (0 for other ops).
        public let multiplyAdds: Double
        /// Whether `seconds` is already counted in another entry (activation quantization runs inside the products).
        public let included: Bool
    }

    public let tokens: Int
    public let threads: Int
    /// The forward pass of `tokens` tokens (logits of the last), seconds.
    public let forwardSeconds: Double
    public let entries: [Entry]

    /// Seconds of the forward pass no entry accounts for.
    public var remainderSeconds: Double { forwardSeconds - entries.filter { !$0.included }.reduce(0) { $0 + $1.seconds } }

    /// Best of `repetitions` timings of each op and of the forward pass, on `session`'s pool.
    public static func measure(session: InferenceSession, tokens ids: [Int], repetitions: Int = 3) throws -> PromptProfile {
        let model = session.model, c = model.config, w = model.weights, pool = session.pool
        let t = ids.count, hidden = c.hiddenSize
        func best(_ body: () throws -> Void) rethrows -> Double {
            var result = Double.infinity
            for _ in 0..<max(1, repetitions) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                try body()
                result = min(result, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return result
        }
        let forward = try best { session.reset(); _ = try session.forward(ids, logits: .last) }
        // The ops between the products, timed inside the forward pass: each op's best of `repetitions` passes.
        var inForward: [StepProfile.Op: Double] = [:]
        defer { session.profile = nil }
        for _ in 0..<max(1, repetitions) {
            let split = StepProfile()
            session.profile = split
            session.reset()
            split.beginStep()
            _ = try session.forward(ids, logits: .last)
            split.endStep()
            for e in split.entries { inForward[e.op] = min(inForward[e.op] ?? .infinity, e.millisecondsPerStep / 1000) }
        }
        session.profile = nil
        session.reset()

        var rng = SeededGenerator(seed: 11)
        let widest = max(hidden, c.intermediateSize, c.numHeads * c.headDim)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: t * widest)
        defer { x.deallocate() }
        for i in 0..<t * widest { x[i] = Float.random(in: -1...1, using: &rng) }
        // Room for a layer's products side by side (q, k and v, or gate and up, run as one job).
        let layerRows = w.layers.map { l in l.linears.reduce(0) { $0 + $1.1.outFeatures } }.max() ?? hidden
        let y = UnsafeMutablePointer<Float>.allocate(capacity: max(t * max(layerRows, hidden), c.vocabSize))
        defer { y.deallocate() }

        var entries: [Entry] = []
        // The products, grouped by role; one timing covers every layer's matrices of that role.
        let roles: [(String, Set<WeightRole>)] = [
            ("matrices: attention q, k, v", [.q, .k, .v, .qkv]),
            ("matrices: attention output", [.o]),
            ("matrices: mlp gate, up", [.gate, .up]),
            ("matrices: mlp down", [.down]),
        ]
        for (name, wanted) in roles {
            // Per layer, the role's matrices as the forward multiplies them: quantized ones of the same input in one job.
            let perLayer = w.layers.map { $0.linears.filter { wanted.contains($0.0) }.map(\.1.weight) }
            let seconds = best {
                for ms in perLayer {
                    let quantized = ms.compactMap { m -> QuantizedMatrix? in if case .quantized(let q, _) = m { return q } else { return nil } }
                    if quantized.count == ms.count, ms.count > 1 {
                        var offset = 0
                        let products = quantized.map { q -> (matrix: QuantizedMatrix, y: UnsafeMutablePointer<Float>) in
                            defer { offset += t * q.rows }
                            return (q, y + offset)
                        }
                        QuantizedMatrix.matMul(products, x: x, t: t, pool: pool)
                    } else {
                        for m in ms { m.multiply(x, t: t, into: y, pool: pool) }
                    }
                }
            }
            let ms = perLayer.flatMap { $0 }
            entries.append(Entry(op: name, seconds: seconds, multiplyAdds: ms.reduce(0) { $0 + Double(t * $1.rows * $1.cols) }, included: false))
        }
        let output = best { w.output.multiply(x, t: 1, into: y, pool: pool) }
        entries.append(Entry(op: "matrices: output (last token)", seconds: output,
                             multiplyAdds: Double(w.output.rows * w.output.cols), included: false))

        // Activation quantization as the products do it (every row of x, over the pool in pieces of 8 rows), once per
        // input: q/k/v share one and gate/up another (QuantizedMatrix.matMul(_:x:t:pool:)), o and down have their own.
        let quantized = w.layers.flatMap { l -> [QuantizedMatrix] in
            var firstOfInput: [Int: QuantizedMatrix] = [:]
            for (role, linear) in l.linears {
                guard case .quantized(let q, _) = linear.weight else { continue }
                let input: Int
                switch role {
                case .q, .k, .v, .qkv: input = 0
                case .o: input = 1
                case .gate, .up: input = 2
                default: input = 3
                }
                if firstOfInput[input] == nil { firstOfInput[input] = q }
            }
            return firstOfInput.sorted { $0.key < $1.key }.map(\.value)
        }
        if !quantized.isEmpty {
            let xq = UnsafeMutableRawPointer.allocate(byteCount: t * quantized.map(\.activationRowBytes).max()!, alignment: 64)
            defer { xq.deallocate() }
            let seconds = best {
                for q in quantized {
                    let bytes = q.activationRowBytes
                    pool.parallelFor(count: (t + 7) / 8) { p in
                        for s in (p * 8)..<min(t, p * 8 + 8) { q.quantizeActivations(x + s * q.cols, into: xq + s * bytes) }
                    }
                }
            }
            entries.append(Entry(op: "  of which activation quantization", seconds: seconds, multiplyAdds: 0, included: true))
        }

        let embedding = best { for (r, id) in ids.enumerated() { w.embedding.copyRow(id, into: y + r * hidden) } }
        entries.append(Entry(op: "embedding lookup", seconds: embedding, multiplyAdds: 0, included: false))
        // Norms inside the forward too: there they run over the pool, most of them with the residual add before them.
        for (op, name) in [(StepProfile.Op.norms, "norms (and the residual adds fused with them)"),
                           (.attentionForward, "attention: q·k, softmax, ·v, KV cache writes"), (.rope, "rotary"),
                           (.residual, "residual adds and copies"), (.activation, "mlp activation")] {
            entries.append(Entry(op: name, seconds: inForward[op] ?? 0, multiplyAdds: 0, included: false))
        }
        return PromptProfile(tokens: t, threads: pool.threads, forwardSeconds: forward, entries: entries)
    }
}
