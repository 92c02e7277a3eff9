// Errors of the chat layer, one line each, saying what to do.
import Foundation

public enum ChatError: Error, CustomStringConvertible, LocalizedError {
    case messageTooLong(tokens: Int, context: Int)
    /// A message of more bytes than the whole context can hold (refused before it is tokenized).
    case messageOverContext(bytes: Int, byteBound: Int, context: Int)
    case emptyMessage
    case nothingToRetry
    case invalidSetting(String)
    case unknownTemplate(String, known: [String])
    case templateFile(path: String, reason: String)
    case savedChat(path: String, reason: String)

    public var description: String {
        switch self {
        case .messageTooLong(let t, let c):
            return "the message needs \(t) tokens with the system prompt but the whole context holds \(c); shorten it"
        case .messageOverContext(let b, let bound, let c):
            return "the message is \(b) bytes, more than the \(bound) bytes the whole context of \(c) tokens can hold; shorten it"
        case .emptyMessage: return "empty message"
        case .nothingToRetry: return "nothing to retry: no answer yet"
        case .invalidSetting(let s): return s
        case .unknownTemplate(let n, let known): return "unknown chat template \"\(n)\" (known: \(known.joined(separator: ", ")))"
        case .templateFile(let p, let r): return "\(p): \(r)"
        case .savedChat(let p, let r): return "\(p): \(r)"
        }
    }
    public var errorDescription: String? { description }
}
