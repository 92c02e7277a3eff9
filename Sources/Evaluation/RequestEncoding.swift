// Strings to token ids the way lm-evaluation-harness builds its requests (models/huggingface.py):
// context whitespace moves to the continuation, context+continuation is encoded as one text and
// split; an empty context is the BOS (else EOS) token; long documents become rolling windows.
import Foundation
import Tokenizers

public struct EncodedRequest: Sendable, Equatable {
    public var context: [Int]
    public var continuation: [Int]
}

public enum RequestEncoding {
    /// The token lm-eval puts before text that has no context (its `prefix_token_id`).
    public static func prefixToken(_ tokenizer: Tokenizer) -> Int {
        tokenizer.bosTokenID ?? tokenizer.eosTokenIDs.first ?? 0
    }

    /// lm-eval 0.4's `_encode_pair` (`.joint`), or the Japanese StableLM harness's separate encoding.
    public static func encode(context: String, continuation: String, tokenizer: Tokenizer,
                              mode: EvalTask.Tokenization = .joint) -> EncodedRequest {
        if context.isEmpty {
            return EncodedRequest(context: [prefixToken(tokenizer)], continuation: tokenizer.encode(continuation, addSpecialTokens: false))
        }
        switch mode {
        case .separate:
            return EncodedRequest(context: tokenizer.encode(context, addSpecialTokens: false),
                                  continuation: tokenizer.encode(continuation, addSpecialTokens: false))
        case .joint:
            var context = context, continuation = continuation
            // Trailing whitespace of the context belongs to the continuation (" Paris", not "Paris").
            let trailing = context.reversed().prefix { $0.isWhitespace }.count
            if trailing > 0 {
                continuation = String(context.suffix(trailing)) + continuation
                context = String(context.dropLast(trailing))
            }
            let whole = tokenizer.encode(context + continuation, addSpecialTokens: false)
            let contextIDs = tokenizer.encode(context, addSpecialTokens: false)
            if contextIDs.isEmpty {
                return EncodedRequest(context: [prefixToken(tokenizer)], continuation: whole)
            }
            return EncodedRequest(context: contextIDs, continuation: Array(whole.dropFirst(contextIDs.count)))
        }
    }

    /// The same for several continuations of one context: a separate encoding encodes the context once.
    public static func encode(context: String, continuations: [String], tokenizer: Tokenizer,
                              mode: EvalTask.Tokenization = .joint) -> [EncodedRequest] {
        guard mode == .separate, !context.isEmpty, continuations.count > 1 else {
            return continuations.map { encode(context: context, continuation: $0, tokenizer: tokenizer, mode: mode) }
        }
        let contextIDs = tokenizer.encode(context, addSpecialTokens: false)
        return continuations.map { EncodedRequest(context: contextIDs, continuation: tokenizer.encode($0, addSpecialTokens: false)) }
    }

    /// Fits a request into `contextLength` positions by dropping context tokens from the left
    /// (as lm-eval does), keeping at least one.
    public static func truncate(_ request: EncodedRequest, contextLength: Int) -> EncodedRequest? {
        guard request.continuation.count < contextLength else { return nil }
        let room = contextLength - request.continuation.count
        guard request.context.count > room else { return request }
        return EncodedRequest(context: Array(request.context.suffix(room)), continuation: request.continuation)
    }

    /// lm-eval's get_rolling_token_windows + make_disjoint_window with context_len 1: every token
    /// predicted exactly once, each window with as much preceding context as fits.
    /// `maxSequenceLength` is the number of tokens the model sees per window.
    public static func rollingWindows(tokens: [Int], prefixToken: Int, maxSequenceLength: Int) -> [EncodedRequest] {
        guard !tokens.isEmpty, maxSequenceLength >= 1 else { return [] }
        var windows: [(input: [Int], predicted: [Int])] = []
        let firstLength = min(maxSequenceLength, tokens.count)
        windows.append(([prefixToken] + tokens[..<(firstLength - 1)], Array(tokens[..<firstLength])))
        var predicted = firstLength
        while predicted < tokens.count {
            let length = min(tokens.count - predicted, maxSequenceLength)
            let end = predicted + length
            let start = max(0, end - maxSequenceLength - 1)
            windows.append((Array(tokens[start..<(end - 1)]), Array(tokens[(end - length)..<end])))
            predicted += length
        }
        // Disjoint: the context keeps only what precedes the predicted tokens.
        return windows.map { w in
            EncodedRequest(context: Array(w.input.prefix(w.input.count - (w.predicted.count - 1))), continuation: w.predicted)
        }
    }
}
