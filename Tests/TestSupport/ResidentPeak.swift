// How much a piece of work raises this process's peak resident set (Linux: /proc/self/clear_refs
// resets VmHWM to the current VmRSS). For tests that a writer or reader does not hold a second copy
// of something large; nil where the kernel does not offer the reset.
import Foundation

public enum ResidentPeak {
    /// A "Key: N kB" line of /proc/PROCESS/status in kB (PROCESS: "self" or a pid); nil where there is none.
    static func statusKB(_ key: String, process: String = "self") -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(process)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    static func status(_ key: String) -> Int? { statusKB(key).map { $0 * 1024 } }

    /// Bytes by which `work` raised the peak resident set over the resident set before it (nil: not measurable here).
    public static func increase(during work: () throws -> Void) throws -> Int? {
        guard FileManager.default.isWritableFile(atPath: "/proc/self/clear_refs"),
              (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil,
              let before = status("VmRSS") else { return nil }
        try work()
        guard let peak = status("VmHWM") else { return nil }
        return peak - before
    }
}
