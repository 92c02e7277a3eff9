// A model the runner reaches through text, tokenized by whoever serves it (an OpenAI-compatible
// endpoint: llama-server, vLLM, hayai serve): it scores (context, continuation) strings and completes
// prompts, and says how many of the server's tokens each part was. Local models go through
// LanguageModel and the runner's own lm-eval-style encoding instead.
import Foundation

public struct TextScore: Sendable, Equatable {
    public var logLikelihood: Double
    public var isGreedy: Bool
    /// The server's token counts for the context and the continuation.
    public var contextTokens: Int
    public var continuationTokens: Int

    public init(logLikelihood: Double, isGreedy: Bool, contextTokens: Int, continuationTokens: Int) {
        self.logLikelihood = logLikelihood; self.isGreedy = isGreedy
        self.contextTokens = contextTokens; self.continuationTokens = continuationTokens
    }
}

public protocol ServedModel: AnyObject {
    var name: String { get }
    /// Scores each continuation after `context`. The runner has already moved the context's trailing
    /// whitespace to the continuations, as lm-eval's requests do.
    func score(context: String, continuations: [String]) throws -> [TextScore]
    /// Greedy text after `prompt`, cut at the first of `until`.
    func generate(prompt: String, maxTokens: Int, until: [String]) throws -> String
}
