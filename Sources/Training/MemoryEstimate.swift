// What a training run will hold in memory, printed before it starts and checked against what the
// machine has free: the weights (a frozen base in its own storage, or Float32 parameters), the
// trained parameters' gradients and AdamW's two moments, and the activations the backward reads.
import Foundation

public struct MemoryEstimate: Sendable, CustomStringConvertible {
    public var weights: Int          // frozen base (LoRA) or trained Float32 parameters
    public var adapters: Int         // LoRA matrices (0 for full training)
    public var optimizer: Int        // gradients + AdamW moments of what is trained
    public var activations: Int

    public var total: Int { weights + adapters + optimizer + activations }

    /// Bytes the machine can give: MemAvailable from /proc/meminfo, else the physical memory.
    public static var available: Int {
        if let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8),
           let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemAvailable:") }),
           let kb = Int(line.split(separator: " ").dropFirst().first ?? "") {
            return kb * 1024
        }
        return Int(ProcessInfo.processInfo.physicalMemory)
    }

    static func gb(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }

    public var description: String {
        "memory: ~\(Self.gb(total)) (weights \(Self.gb(weights)), adapters \(Self.gb(adapters)), "
            + "gradients and optimizer state \(Self.gb(optimizer)), activations \(Self.gb(activations)))"
    }

    /// Throws when the estimate is more than `available` bytes.
    public func check(available: Int = MemoryEstimate.available) throws {
        guard total <= available else {
            throw TrainingError.unsupported("this run needs \(description.dropFirst("memory: ".count)) but only \(Self.gb(available)) is available; "
                                            + "lower --batch-size or --seq-len, or train LoRA adapters (--lora-rank)")
        }
    }
}
