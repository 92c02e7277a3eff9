// Errors of the run store, one line each, naming the workspace or run so the CLI can print them as is.
import Foundation

public enum RunStoreError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case invalidName(name: String, reason: String)
    case nameTaken(name: String)
    case runNotFound(name: String)
    case runIsLive(name: String, pid: Int32?, host: String?)
    case invalidJSON(what: String, reason: String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "\(p): cannot open the run store: \(r)"
        case .invalidName(let n, let r): return "invalid run name '\(n)': \(r)"
        case .nameTaken(let n): return "a run named '\(n)' already exists (pick another --name, or remove it with `hayai runs rm \(n)`)"
        case .runNotFound(let n): return "no run named '\(n)' (see `hayai runs list`)"
        case .runIsLive(let n, let pid, let host):
            return "run '\(n)' is still running (pid \(pid.map(String.init) ?? "?") on \(host ?? "?")); stop it first or pass --force"
        case .invalidJSON(let w, let r): return "\(w) is not valid JSON: \(r)"
        case .cannotWrite(let p, let r): return "\(p): cannot write: \(r)"
        }
    }
}

extension RunStoreError: LocalizedError {
    public var errorDescription: String? { description }
}
