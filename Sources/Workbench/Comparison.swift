// Two eval runs compared task by task on the items both scored on the same document: both columns,
// the paired-bootstrap interval of B − A and McNemar's test over the paired items only, the count of
// items without a partner, and the items where they disagree. Each comparison is stored as a run of
// kind `compare`, so `hayai report` shows the paired differences as they were computed here.
import Foundation
import Evaluation
import RunStore

public enum Comparison {
    /// Compares `a` (the baseline) with `b` on the tasks both have. Refuses tasks where no item pairs.
    public static func make(store: RunStore, a: Run, b: Run) throws -> ComparisonRecord {
        let resultsA = try store.evalResults(run: a), resultsB = try store.evalResults(run: b)
        let taskNames = Array(Set(resultsA.map(\.task)).intersection(resultsB.map(\.task))).sorted()
        guard !taskNames.isEmpty else { throw WorkbenchError.noTaskInCommon(a: a.name, b: b.name) }
        var rows: [ComparisonRecord.TaskRow] = []
        for task in taskNames {
            let pairing = CompareStats.pairing(try StoreSink.items(store: store, run: a, task: task),
                                               try StoreSink.items(store: store, run: b, task: task))
            guard !pairing.pairs.isEmpty else { throw WorkbenchError.nothingPaired(task: task, a: a.name, b: b.name) }
            let pairedA = pairing.pairs.map(\.a), pairedB = pairing.pairs.map(\.b)
            var metrics: [ComparisonRecord.MetricRow] = []
            for ra in resultsA where ra.task == task {
                guard resultsB.contains(where: { $0.task == task && $0.metric == ra.metric }),
                      let va = Runner.aggregate(metric: ra.metric, higherIsBetter: true, pairedA)?.value,
                      let vb = Runner.aggregate(metric: ra.metric, higherIsBetter: true, pairedB)?.value else { continue }
                var row = ComparisonRecord.MetricRow(metric: ra.metric, a: va, b: vb, difference: vb - va)
                // Per-item metrics allow a paired interval; aggregate-only ones (perplexity) do not.
                if pairedA.contains(where: { $0.metrics[ra.metric] != nil }) {
                    let boot = CompareStats.pairedBootstrap(pairedA, pairedB, metric: ra.metric)
                    row.lower = boot.lower; row.upper = boot.upper
                }
                if ra.metric == "acc" { row.mcnemarP = CompareStats.mcnemar(pairedA, pairedB).exactP }
                metrics.append(row)
            }
            let disagreements = CompareStats.disagreements(pairedA, pairedB).map {
                ComparisonRecord.Item(index: $0.index, question: ItemText.question(doc: $0.a.doc.description, prompt: $0.a.prompt, index: $0.index),
                                      a: $0.a.prediction, b: $0.b.prediction, gold: $0.a.target, aCorrect: $0.a.correct,
                                      bCorrect: $0.b.correct, choices: ItemText.choices(doc: $0.a.doc.description))
            }
            rows.append(ComparisonRecord.TaskRow(
                task: task, promptVersionA: resultsA.first { $0.task == task }?.promptVersion,
                promptVersionB: resultsB.first { $0.task == task }?.promptVersion, items: pairing.pairs.count,
                unpairedA: pairing.unpairedA, unpairedB: pairing.unpairedB, metrics: metrics, disagreements: disagreements))
        }
        return ComparisonRecord(a: a.name, b: b.name, modelA: a.model, modelB: b.model, tasks: rows)
    }

    /// Compares and stores the comparison as a completed `compare` run (parent: A); returns both.
    public static func makeAndStore(store: RunStore, a: Run, b: Run, name: String? = nil) throws -> (record: ComparisonRecord, run: Run) {
        let record = try make(store: store, a: a, b: b)
        let recorder = try RunRecorder.create(store: store, kind: .compare, name: name, model: nil, config: record, parent: a.name)
        var summary: [String: Double] = [:]
        for t in record.tasks { for m in t.metrics { summary["\(t.task)/\(m.metric)/difference"] = m.difference } }
        return (record, try recorder.finish(.completed, summary: summary))
    }

}

extension ComparisonRecord {
    /// The comparison as text: the table of paired differences, then the disagreeing items (`show` per task).
    public func text(show: Int) -> String {
        var out = "A: \(a) (\(modelA ?? "?"))\nB: \(b) (\(modelB ?? "?"))\n\n"
        var rows = [["task", "prompt A/B", "n", "unpaired A/B", "metric", "A", "B", "B − A", "95% CI", "McNemar p"]]
        for t in tasks {
            for m in t.metrics {
                let ci = m.lower.map { String(format: "[%+.3f, %+.3f]", $0, m.upper!) } ?? "-"
                rows.append([t.task, "\(t.promptVersionA ?? "-")/\(t.promptVersionB ?? "-")", "\(t.items)", "\(t.unpairedA)/\(t.unpairedB)",
                             m.metric, String(format: "%.4f", m.a), String(format: "%.4f", m.b), String(format: "%+.4f", m.difference), ci,
                             m.mcnemarP.map { String(format: "%.3g", $0) } ?? "-"])
            }
        }
        out += TextTable.render(rows) + "\n"
        for t in tasks where t.unpairedA + t.unpairedB > 0 {
            out += "\n\(t.task): \(t.items) items paired (same index and document); \(t.unpairedA) of A and \(t.unpairedB) of B "
                + "have no partner and are left out of every column\n"
        }
        for t in tasks where !t.disagreements.isEmpty && show > 0 {
            out += "\n\(t.task): \(t.disagreements.count) items where A and B disagree"
            out += t.disagreements.count > show ? " (first \(show))\n" : "\n"
            for d in t.disagreements.prefix(show) {
                func mark(_ c: Bool?) -> String { c.map { $0 ? "✓" : "✗" } ?? " " }
                out += "  #\(d.index) \(d.question.replacingOccurrences(of: "\n", with: " ⏎ "))\n"
                out += "      A \(mark(d.aCorrect)) \(d.a)   B \(mark(d.bCorrect)) \(d.b)   gold: \(d.gold)\n"
            }
        }
        return out
    }
}
