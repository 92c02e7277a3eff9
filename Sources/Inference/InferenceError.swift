// Errors from loading and running a model; one line each, naming the file or the limit.
import Foundation

public enum InferenceError: Error, CustomStringConvertible, LocalizedError {
    case notAModel(path: String, reason: String)
    case contextOverflow(tokens: Int, context: Int)
    /// A prompt of more bytes than the context can hold (`bytes` nil when not known, e.g. a pipe).
    case promptTooLong(source: String, bytes: Int?, byteBound: Int)
    case invalidToken(id: Int, vocabularySize: Int)
    case emptyInput
    case invalidSetting(String)
    /// A LoRA adapter (or its settings) that cannot be used; `path` names the file or option.
    case badAdapter(path: String, what: String)
    /// Logits that are NaN or infinite (finite weights whose activations overflowed).
    case nonFiniteLogits(path: String, position: Int)

    public var description: String {
        switch self {
        case .notAModel(let p, let r): return "\(p): \(r)"
        case .contextOverflow(let t, let c):
            return "prompt needs \(t) tokens but the context holds \(c) (use a shorter prompt or a larger --ctx)"
        case .promptTooLong(let source, let bytes, let bound):
            return "\(source): the prompt is \(bytes.map { "\($0) bytes, " } ?? "")more than the \(bound) bytes the context can hold "
                + "(use a shorter prompt or a larger --ctx)"
        case .invalidToken(let id, let n): return "token id \(id) is outside the vocabulary (0..<\(n))"
        case .emptyInput: return "no input tokens"
        case .invalidSetting(let s): return s
        case .badAdapter(let p, let w): return "\(p): \(w)"
        case .nonFiniteLogits(let p, let i):
            return "\(p): the logits at position \(i) are not finite (NaN or infinity): the weights make the activations overflow"
        }
    }
    public var errorDescription: String? { description }
}
