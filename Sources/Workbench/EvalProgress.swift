// An eval run as a person watches it: a progress line per task (items/s), a line when a task is done,
// and Ctrl-C routed to the one interrupt flag so the run stops between items with what it scored kept.
import Foundation
import Evaluation
import Inference
import Kernels

extension EvalRun {
    /// Runs on `model` with progress on standard error (none when `quiet`). Ctrl-C throws
    /// `EvalInterrupted` (which says how to resume) after the progress line is closed.
    public func runShowingProgress(model: LanguageModel, skipBadLines: Bool = false, quiet: Bool = false) throws -> [TaskResult] {
        try showingProgress(quiet: quiet) { try run(model: model, skipBadLines: skipBadLines, callbacks: $0) }
    }

    /// The same for a model served elsewhere (an OpenAI-compatible completions endpoint).
    public func runShowingProgress(served: ServedModel, skipBadLines: Bool = false, quiet: Bool = false) throws -> [TaskResult] {
        try showingProgress(quiet: quiet) { try run(served: served, skipBadLines: skipBadLines, callbacks: $0) }
    }

    private func showingProgress(quiet: Bool, _ scoring: (Callbacks) throws -> [TaskResult]) throws -> [TaskResult] {
        var progress: (key: String, line: ProgressLine)?
        let callbacks = Callbacks(progress: { key, p in
            guard !quiet else { return }
            if progress?.key != key { progress = (key, ProgressLine(label: "eval \(key)", total: p.total)) }
            progress!.line.update(step: p.completed, extra: [("items/s", String(format: "%.2f", p.itemsPerSecond))])
        }, taskDone: { result in
            progress?.line.finish()
            progress = nil
            if !quiet {
                ProgressLine.writeStandardError("\(result.task): \(result.itemCount) items, " + EvalTable.throughput(result) + "\n")
            }
        })
        Interrupt.clear()
        Interrupt.installSIGINTHandler()
        do {
            return try scoring(callbacks)
        } catch let stopped as EvalInterrupted {
            progress?.line.finish()
            throw stopped
        }
    }
}
