// Plain-text tables for the terminal: columns padded to their widest cell by display width (CJK
// characters count two), and the eval results table every eval prints.
import Basics
import Evaluation

public enum TextTable {
    public static func width(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + (($1.value >= 0x1100 && ($1.value <= 0x115F || (0x2E80...0xA4CF).contains($1.value)
            || (0xAC00...0xD7A3).contains($1.value) || (0xF900...0xFAFF).contains($1.value) || (0xFF00...0xFF60).contains($1.value)
            || (0xFFE0...0xFFE6).contains($1.value))) ? 2 : 1) }
    }

    public static func render(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? width($0[c]) : 0 }.max() ?? 0 }
        return rows.enumerated().map { i, row in
            let line = row.enumerated().map { c, cell in cell + String(repeating: " ", count: widths[c] - width(cell)) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            return i == 0 ? line + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") : line
        }.joined(separator: "\n")
    }
}

public enum EvalTable {
    /// One row per task and metric; then each group's aggregate rows (lm-eval's size-weighted mean and
    /// pooled stderr over the member tasks' results, keyed as EvalRun stores them).
    public static func render(_ results: [TaskResult], groups: [(EvalGroup, [String])] = []) -> String {
        var rows = [["task", "version", "prompt", "shots", "metric", "value", "± stderr", "n", "items/s", "tokens/s"]]
        for r in results {
            for m in r.metrics {
                rows.append([r.task, r.version, r.promptVersion ?? "-", "\(r.numFewshot)", m.name, String(format: "%.4f", m.value),
                             m.stderr.map { String(format: "%.4f", $0) } ?? "-", "\(r.itemCount)", String(format: "%.2f", r.itemsPerSecond),
                             String(format: "%.0f", r.tokensPerSecond)])
            }
        }
        for (group, keys) in groups {
            let members = keys.compactMap { k in results.first { $0.task == k } }
            for m in LMEvalFormat.groupMetrics(group, members: members.map { ($0.metrics, $0.itemCount) }) {
                rows.append(["\(group.name) (group)", group.version ?? "-", "-", "-", m.name, String(format: "%.4f", m.value),
                             m.stderr.map { String(format: "%.4f", $0) } ?? "-", "\(members.reduce(0) { $0 + $1.itemCount })", "-", "-"])
            }
        }
        return TextTable.render(rows)
    }

    /// A task's throughput as the line after its progress says it: items/s, prompt tokens/s and the time taken.
    public static func throughput(_ r: TaskResult) -> String {
        String(format: "%.2f items/s, %.0f tokens/s, ", r.itemsPerSecond, r.tokensPerSecond) + Durations.text(r.seconds)
    }
}
