// The live progress line of training and evaluation. On a terminal it is one line redrawn in place
// (`\r`, then clear to the end of the line), at most ten times a second and cut to the terminal's
// width; when standard error is a file or a pipe (CI logs, `2> train.log`) it prints whole lines
// instead: the first update, then one every `plainInterval` seconds, then the last. Either way a line reads
//
//   pretrain step 120/1000 12.0% | loss 3.2145 | 1,234 tok/s | 1m02s | eta 7m35s | lr 3.0e-04
//
// ETA is the remaining steps at the average pace since the first update (a resumed run's earlier
// steps don't count).
import Basics
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class ProgressLine {
    public let label: String
    public var total: Int?
    public let isTerminal: Bool
    /// Seconds between plain lines when not on a terminal.
    public let plainInterval: TimeInterval
    /// Seconds between redraws on a terminal.
    public let redrawInterval: TimeInterval
    private let write: (String) -> Void
    private let clock: () -> TimeInterval
    private var first: (step: Int, time: TimeInterval)?
    private var lastShown: TimeInterval = -.infinity
    private var pending: String?
    private var onLine = false

    /// - Parameters:
    ///   - write: where text goes (standard error by default; tests capture it).
    ///   - clock: seconds on a monotonic clock (tests pass their own).
    ///   - plainEverySteps: when not on a terminal, print every this many steps instead of by time
    ///     (training's log interval, as nanoGPT prints).
    public init(label: String, total: Int?, isTerminal: Bool = ProgressLine.standardErrorIsTerminal, plainInterval: TimeInterval = 10,
         plainEverySteps: Int? = nil, redrawInterval: TimeInterval = 0.1,
         write: @escaping (String) -> Void = ProgressLine.writeStandardError,
         clock: @escaping () -> TimeInterval = ProgressLine.monotonicSeconds) {
        self.label = label; self.total = total; self.isTerminal = isTerminal
        self.plainInterval = plainInterval; self.plainEverySteps = plainEverySteps.map { max(1, $0) }
        self.redrawInterval = redrawInterval
        self.write = write; self.clock = clock
    }

    public let plainEverySteps: Int?

    /// Reports that `step` is done (steps count from 0 or 1 as the caller likes; `total` is the last + 1).
    public func update(step: Int, loss: Double? = nil, tokensPerSecond: Double? = nil, extra: [(String, String)] = []) {
        let now = clock()
        if first == nil { first = (step, now) }
        let elapsed = now - first!.time
        let isLast = total.map { step >= $0 } ?? false
        let line = Self.format(label: label, step: step, total: total, loss: loss, tokensPerSecond: tokensPerSecond,
                               elapsed: elapsed, eta: eta(step: step, now: now), extra: extra)
        let interval = isTerminal ? redrawInterval : plainInterval
        let due: Bool
        if !isTerminal, let every = plainEverySteps { due = step % every == 0 } else { due = now - lastShown >= interval }
        guard isLast || lastShown == -.infinity || due else {
            pending = line
            return
        }
        show(line, at: now)
    }

    /// A line of its own (an evaluation, a saved checkpoint); on a terminal it takes the live line's
    /// place and the next update draws the live line again below it.
    public func message(_ line: String) {
        if isTerminal && onLine { write("\r\u{1B}[K") }
        onLine = false
        write(line + "\n")
    }

    /// Shows the last update if it was held back, then ends the line (a terminal's cursor moves on).
    public func finish(_ message: String? = nil) {
        if let pending { show(pending, at: clock()) }
        if isTerminal && onLine { write("\n") }
        onLine = false
        if let message { write(message + "\n") }
    }

    private func show(_ line: String, at now: TimeInterval) {
        pending = nil
        lastShown = now
        if isTerminal {
            let width = Self.terminalColumns().map { max(20, $0 - 1) }
            let cut = width.map { line.count > $0 ? String(line.prefix($0 - 1)) + "…" : line } ?? line
            write("\r" + cut + "\u{1B}[K")
            onLine = true
        } else {
            write(line + "\n")
        }
    }

    private func eta(step: Int, now: TimeInterval) -> TimeInterval? {
        guard let total, let first, step > first.step, now > first.time else { return nil }
        let pace = (now - first.time) / Double(step - first.step)
        return Double(max(0, total - step)) * pace
    }

    public static func format(label: String, step: Int, total: Int?, loss: Double?, tokensPerSecond: Double?,
                       elapsed: TimeInterval, eta: TimeInterval?, extra: [(String, String)] = []) -> String {
        var head = "\(label) step \(step)"
        if let total, total > 0 {
            head += "/\(total) " + String(format: "%.1f%%", 100 * Double(step) / Double(total))
        }
        var parts = [head]
        if let loss { parts.append("loss " + (loss.isFinite ? String(format: "%.4f", loss) : "\(loss)")) }
        if let tokensPerSecond, tokensPerSecond.isFinite { parts.append(grouped(Int(tokensPerSecond.rounded())) + " tok/s") }
        parts.append(duration(elapsed))
        if total != nil { parts.append("eta " + (eta.map(duration) ?? "?")) }
        parts += extra.map { "\($0.0) \($0.1)" }
        return parts.joined(separator: " | ")
    }

    /// 1234567 → "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// 45s, 3m05s, 2h04m.
    public static func duration(_ seconds: TimeInterval) -> String { Durations.text(seconds) }

    public static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    public static func writeStandardError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
    public static func writeStandardOutput(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    public static var standardOutputIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    public static func monotonicSeconds() -> TimeInterval { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    public static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}
