// Where a training step's time goes (`hayai train pretrain --profile`), llm.c-style: every op of the
// step runs inside a named region, and the time is charged to the innermost open region (a region
// opened inside another one pauses the outer one), so the regions' times add up to the step exactly
// and nothing is counted twice. What no named region covers (the loop's own glue, thread start-up
// after an idle spell) is charged to `other`, the outermost region of every step.
// Off costs nothing but a nil check: callers hold a `StepProfile?` and read no clock when it is nil.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class StepProfile {
    /// The step's ops, in the order the table prints them. Products are grouped by role and by
    /// forward / backward dX (input gradient) / backward dW (weight and bias gradient).
    public enum Op: Int, CaseIterable, Sendable {
        case data
        case embedding
        case qkvForward, qkvInputGradient, qkvWeightGradient
        case oForward, oInputGradient, oWeightGradient
        case upGateForward, upGateInputGradient, upGateWeightGradient
        case downForward, downInputGradient, downWeightGradient
        case lmHeadForward, lmHeadInputGradient, lmHeadWeightGradient
        case attentionForward, attentionBackward
        case norms, rope, activation, residual
        case crossEntropy
        case zeroGradients, clipping, adamW
        case other

        public var name: String {
            switch self {
            case .data: return "data loading"
            case .embedding: return "embedding"
            case .qkvForward: return "matmul qkv forward"
            case .qkvInputGradient: return "matmul qkv backward dX"
            case .qkvWeightGradient: return "matmul qkv backward dW"
            case .oForward: return "matmul o forward"
            case .oInputGradient: return "matmul o backward dX"
            case .oWeightGradient: return "matmul o backward dW"
            case .upGateForward: return "matmul mlp up/gate forward"
            case .upGateInputGradient: return "matmul mlp up/gate backward dX"
            case .upGateWeightGradient: return "matmul mlp up/gate backward dW"
            case .downForward: return "matmul mlp down forward"
            case .downInputGradient: return "matmul mlp down backward dX"
            case .downWeightGradient: return "matmul mlp down backward dW"
            case .lmHeadForward: return "matmul LM head forward"
            case .lmHeadInputGradient: return "matmul LM head backward dX"
            case .lmHeadWeightGradient: return "matmul LM head backward dW"
            case .attentionForward: return "attention forward"
            case .attentionBackward: return "attention backward"
            case .norms: return "norms (forward and backward)"
            case .rope: return "RoPE (forward and backward)"
            case .activation: return "MLP activation (forward and backward)"
            case .residual: return "residual adds, copies, zeroing"
            case .crossEntropy: return "cross-entropy (forward and backward)"
            case .zeroGradients: return "zero gradients"
            case .clipping: return "gradient clipping"
            case .adamW: return "AdamW"
            case .other: return "sync/other"
            }
        }

        /// Whether the op is a matrix product (its FLOPs are counted).
        public var isMatmul: Bool { (Op.qkvForward.rawValue...Op.lmHeadWeightGradient.rawValue).contains(rawValue) }
    }

    /// Nanoseconds charged to each op over the recorded steps.
    public private(set) var nanoseconds: [UInt64]
    /// FLOPs (2 per multiply-add) of each op's products over the recorded steps.
    public private(set) var flops: [Double]
    /// Steps recorded, and their wall time (from `beginStep` to `endStep`).
    public private(set) var steps = 0
    public private(set) var stepNanoseconds: UInt64 = 0

    private var open: [Op] = []
    private var lap: UInt64 = 0
    private var stepStart: UInt64 = 0

    public init() {
        nanoseconds = Array(repeating: 0, count: Op.allCases.count)
        flops = Array(repeating: 0, count: Op.allCases.count)
        open.reserveCapacity(8)
    }

    @inline(__always) static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Whether a step is being recorded (regions outside a step, e.g. validation, are not).
    public var isRecording: Bool { !open.isEmpty }

    /// Starts a step: until `endStep`, time outside any named region goes to `other`.
    public func beginStep() {
        precondition(open.isEmpty, "a step is already being recorded")
        stepStart = Self.now(); lap = stepStart
        open.append(.other)
    }

    public func endStep() {
        precondition(open.count == 1, "endStep with regions still open")
        let t = Self.now()
        nanoseconds[Op.other.rawValue] += t - lap
        open.removeAll(keepingCapacity: true)
        stepNanoseconds += t - stepStart
        steps += 1
    }

    /// Runs `body` as op `op` (with `flops` FLOPs of matrix products). Outside a recorded step it only runs `body`.
    @inline(__always)
    public func measure<R>(_ op: Op, flops count: Double = 0, _ body: () throws -> R) rethrows -> R {
        guard let outer = open.last else { return try body() }
        var t = Self.now()
        nanoseconds[outer.rawValue] += t - lap
        lap = t
        open.append(op)
        defer {
            t = Self.now()
            nanoseconds[op.rawValue] += t - lap
            flops[op.rawValue] += count
            lap = t
            open.removeLast()
        }
        return try body()
    }

    /// Forgets what was recorded (after warm-up steps).
    public func reset() {
        precondition(open.isEmpty, "reset inside a step")
        for i in nanoseconds.indices { nanoseconds[i] = 0; flops[i] = 0 }
        steps = 0; stepNanoseconds = 0
    }

    /// One line of the table: an op's mean milliseconds per step, its share of the step, and GFLOP/s for products.
    public struct Entry: Sendable {
        public let op: Op
        public let millisecondsPerStep: Double
        public let share: Double
        public let gflops: Double?
    }

    /// Mean per-step times of every op, in `Op` order.
    public var entries: [Entry] {
        let n = Double(max(steps, 1)), step = Double(stepNanoseconds)
        return Op.allCases.map { op in
            let ns = Double(nanoseconds[op.rawValue])
            return Entry(op: op, millisecondsPerStep: ns / n / 1e6, share: step > 0 ? ns / step : 0,
                         gflops: op.isMatmul && ns > 0 ? flops[op.rawValue] / ns : nil)
        }
    }

    /// Mean wall time of a recorded step, in milliseconds.
    public var stepMilliseconds: Double { Double(stepNanoseconds) / Double(max(steps, 1)) / 1e6 }
}

extension Optional where Wrapped == StepProfile {
    /// `body` timed as `op` when there is a profile; otherwise just `body` (no clock read).
    @inline(__always)
    public func measure<R>(_ op: StepProfile.Op, flops: Double = 0, _ body: () throws -> R) rethrows -> R {
        guard let profile = self else { return try body() }
        return try profile.measure(op, flops: flops, body)
    }
}
