// Errors from building, reading and tokenizing a corpus: each names the file or source and says
// what to do, on one line.
import Foundation

public enum CorpusError: Error, CustomStringConvertible, Equatable {
    /// Every source failed or yielded no text.
    case emptyCorpus(reason: String)
    /// A file could not be read or written.
    case unreadable(path: String, reason: String)
    case unwritable(path: String, reason: String)
    /// A corpus folder without (or with a broken) manifest.json.
    case badManifest(path: String, reason: String)
    /// A token shard whose header or length is not llm.c's format.
    case badShard(path: String, reason: String)
    /// A Debian package that could not be fetched or unpacked.
    case packageUnavailable(name: String, reason: String)
    /// A source-specific failure (a decoder program that would not run, a missing folder in a package).
    case sourceFailed(name: String, reason: String)

    public var description: String {
        switch self {
        case .emptyCorpus(let reason): return "the corpus is empty: \(reason)"
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .unwritable(let path, let reason): return "\(path): cannot write: \(reason)"
        case .badManifest(let path, let reason): return "\(path): not a hayai corpus: \(reason)"
        case .badShard(let path, let reason): return "\(path): not a token shard: \(reason)"
        case .packageUnavailable(let name, let reason): return "Debian package \(name): \(reason)"
        case .sourceFailed(let name, let reason): return "source \(name): \(reason)"
        }
    }
}
