// Errors of the workbench layer: one line each, naming the run or file and what to do.
import Foundation

public enum WorkbenchError: Error, CustomStringConvertible, LocalizedError {
    case notFound(path: String, what: String)
    /// A run asked for under a kind it does not have.
    case wrongKind(run: String, kind: String, expected: String)
    /// `--resume` with settings that differ from the stored run's.
    case resumeMismatch(run: String, what: String, stored: String, given: String)
    case noTaskInCommon(a: String, b: String)
    /// Two runs of a task share no item (same index and same document).
    case nothingPaired(task: String, a: String, b: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let p, let w): return "\(p): no such \(w)"
        case .wrongKind(let r, let k, let e): return "run \(r) is a \(k) run, not an \(e) run"
        case .resumeMismatch(let r, let w, let s, let g):
            return "cannot resume \(r): its \(w) was \(s), now \(g) (hayai eval --resume \(r) alone continues it as stored)"
        case .noTaskInCommon(let a, let b): return "runs \(a) and \(b) have no task in common"
        case .nothingPaired(let t, let a, let b):
            return "\(t): runs \(a) and \(b) share no item (same index and document); they were run on different data"
        case .invalid(let s): return s
        }
    }
    public var errorDescription: String? { description }
}
