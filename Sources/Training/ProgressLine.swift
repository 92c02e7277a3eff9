// The training progress display: on a terminal one line rewritten in place with `\r` (step, loss,
// lr, tokens/s, MFU, ETA); otherwise (a pipe, a log file) the same line printed every few steps.
// Other messages (evaluations, checkpoints) get lines of their own above the live line.
import Foundation

public final class ProgressLine {
    public let isTerminal: Bool
    /// Steps between lines when not on a terminal.
    public var interval: Int
    private let write: (String) -> Void
    private var lineIsOpen = false
    private var lastDraw: UInt64 = 0

    /// Writes to standard output; `isTerminal` defaults to isatty(1).
    public init(interval: Int, isTerminal: Bool = isatty(STDOUT_FILENO) == 1, write: @escaping (String) -> Void = ProgressLine.standardOutput) {
        self.interval = max(interval, 1); self.isTerminal = isTerminal; self.write = write
    }

    public static func standardOutput(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

    public static func format(_ p: PretrainProgress) -> String {
        let width = String(p.plannedSteps).count
        let step = String(repeating: " ", count: max(0, width - String(p.step).count)) + String(p.step)
        var parts = ["step \(step)/\(p.plannedSteps)",
                     "loss " + String(format: "%.4f", p.loss),
                     "lr " + String(format: "%.2e", p.learningRate),
                     tokensPerSecond(p.tokensPerSecond) + " tok/s"]
        if p.mfu.isFinite { parts.append("MFU " + String(format: "%.1f%%", p.mfu * 100)) }
        parts.append("ETA " + duration(p.etaSeconds))
        return parts.joined(separator: " | ")
    }

    public static func tokensPerSecond(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        return x >= 10_000 ? String(format: "%.1fK", x / 1000) : String(format: "%.0f", x)
    }

    /// h:mm:ss or m:ss.
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    public func update(_ p: PretrainProgress) {
        let last = p.step >= p.plannedSteps
        if isTerminal {
            // At most ~10 redraws a second: a terminal is slower than a tiny model's steps.
            let now = DispatchTime.now().uptimeNanoseconds
            guard last || now - lastDraw > 100_000_000 || p.step == 1 else { return }
            lastDraw = now
            write("\r" + Self.format(p) + "\u{1B}[K")
            lineIsOpen = true
        } else if p.step % interval == 0 || p.step == 1 || last {
            write(Self.format(p) + "\n")
        }
    }

    /// A line of its own; on a terminal it replaces the live line, which the next update redraws.
    public func message(_ line: String) {
        if isTerminal && lineIsOpen { write("\r\u{1B}[K"); lineIsOpen = false }
        write(line + "\n")
    }

    /// Ends the live line.
    public func finish() {
        if isTerminal && lineIsOpen { write("\n"); lineIsOpen = false }
    }
}
