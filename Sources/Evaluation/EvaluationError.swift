// Errors from loading tasks and data and from running them; one line each, naming the file.
import Foundation

public enum EvaluationError: Error, CustomStringConvertible, LocalizedError, Equatable {
    /// A task YAML that cannot be used (`file: what is wrong`).
    case invalidTask(file: String, reason: String)
    /// A data file that cannot be read; `line` is 1-based where known.
    case invalidData(file: String, line: Int?, reason: String)
    /// An item whose fields do not fit the task (label out of range, missing field).
    case invalidItem(file: String, item: Int, reason: String)
    case emptyDataset(file: String)
    case template(file: String, template: String, reason: String)

    public var description: String {
        switch self {
        case .invalidTask(let f, let r): return "\(f): \(r)"
        case .invalidData(let f, let l?, let r): return "\(f):\(l): \(r)"
        case .invalidData(let f, nil, let r): return "\(f): \(r)"
        case .invalidItem(let f, let i, let r): return "\(f): item \(i): \(r)"
        case .emptyDataset(let f): return "\(f): the dataset has no items"
        case .template(let f, let t, let r):
            let short = t.count > 60 ? String(t.prefix(57)) + "..." : t
            return "\(f): template \"\(short.replacingOccurrences(of: "\n", with: "\\n"))\": \(r)"
        }
    }
    public var errorDescription: String? { description }
}
