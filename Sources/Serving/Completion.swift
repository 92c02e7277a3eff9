// One prompt answered on the model thread: the engine's Generator (prefix reuse, sampling, stop
// strings, streaming whole characters) and, for `logprobs`, LocalLanguageModel.tokenLogProbs (the
// log-softmax the eval harness scores with). Nothing here decodes on its own.
import Basics
import Foundation
import Inference
import Tokenizers

struct CompletionOutput {
    /// The choice's text: the generated text, after the prompt's when echoed.
    var text: String
    var finishReason: String
    var promptTokens: Int
    /// Prompt tokens found in the KV cache (left by an earlier request), not computed again.
    var cachedTokens: Int
    var completionTokens: Int
    /// OpenAI's `logprobs` object, or null.
    var logprobs: JSONValue
    var stopReason: StopReason?
}

enum Completion {
    /// OpenAI's finish_reason for the generator's stop reason ("abort": the client left or the server is stopping).
    static func finishReason(_ reason: StopReason) -> String {
        switch reason {
        case .endOfSequence, .stopString: return "stop"
        case .maxTokens, .contextFull: return "length"
        case .cancelled, .interrupted: return "abort"
        }
    }

    /// Checks `prompt` before anything runs: not empty, ids in the vocabulary, shorter than the context.
    static func check(_ prompt: [Int], model: LocalLanguageModel) throws {
        guard !prompt.isEmpty else { throw OpenAIError.invalid("prompt", "the prompt is empty (it encodes to no tokens)") }
        let vocab = model.model.config.vocabSize
        if let bad = prompt.first(where: { $0 < 0 || $0 >= vocab }) {
            throw OpenAIError.invalid("prompt", "token id \(bad) is outside the vocabulary (0..<\(vocab))")
        }
        guard prompt.count <= model.contextLength else {
            throw InferenceError.contextOverflow(tokens: prompt.count, context: model.contextLength)
        }
    }

    /// Generates after `prompt` (at most `maxTokens`, and what the context leaves), streaming pieces of
    /// text to `onText` (false stops it). With `logprobs`, the tokens shown (the prompt's too when
    /// `echo`) come with their log-probabilities and the `logprobs` most likely tokens.
    static func run(_ prompt: [Int], model: LocalLanguageModel, settings: GenerationSettings, defaultMaxTokens: Int,
                    stop: [String], echo: Bool = false, logprobs: Int? = nil, onText: (String) -> Bool = { _ in true }) throws -> CompletionOutput {
        try check(prompt, model: model)
        let tokenizer = model.tokenizer
        let room = model.contextLength - prompt.count
        let maxTokens = min(settings.maxTokens ?? defaultMaxTokens, room)
        let echoed = echo ? decodeWithOffsets(prompt, tokenizer: tokenizer, stripsSpacePrefix: true) : nil
        if let echoed, !echoed.text.isEmpty, !onText(echoed.text) {
            return CompletionOutput(text: echoed.text, finishReason: "abort", promptTokens: prompt.count, cachedTokens: 0,
                                    completionTokens: 0, logprobs: .null, stopReason: .cancelled)
        }
        var generated: [Int] = [], text = "", reason: StopReason?, cached = 0
        if maxTokens > 0 {
            var options = GenerationOptions()
            options.maxTokens = maxTokens
            options.sampling = settings.sampling
            options.stopStrings = stop
            let result = try model.generate(prompt: prompt, options: options, onText: onText)
            generated = result.generatedTokens
            text = result.text
            reason = result.stopReason
            cached = result.promptTokens - result.promptTokensEvaluated
        }
        var logprobsObject = JSONValue.null
        if let top = logprobs {
            let scored = try model.tokenLogProbs(prompt + generated, top: top)
            let shown = echo ? scored[...] : scored[prompt.count...]
            let pieces = echo ? echoed!.offsets + decodeWithOffsets(generated, tokenizer: tokenizer, stripsSpacePrefix: false).offsets
                .map { $0 + echoed!.text.unicodeScalars.count }
                : decodeWithOffsets(generated, tokenizer: tokenizer, stripsSpacePrefix: false).offsets
            logprobsObject = logprobsJSON(Array(shown), offsets: pieces, tokenizer: tokenizer)
        }
        let finish = reason.map(finishReason) ?? "length"
        return CompletionOutput(text: (echoed?.text ?? "") + text, finishReason: finish, promptTokens: prompt.count, cachedTokens: cached,
                                completionTokens: generated.count, logprobs: logprobsObject, stopReason: reason)
    }

    /// The text of `tokens` and where each token starts in it, in Unicode scalars (Python's string
    /// indices, which OpenAI's `text_offset` counts). A token that ends inside a character starts
    /// where that character does.
    static func decodeWithOffsets(_ tokens: [Int], tokenizer: Tokenizer, stripsSpacePrefix: Bool) -> (text: String, offsets: [Int]) {
        var decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: false, stripsEncoderSpacePrefix: stripsSpacePrefix)
        var text = "", count = 0, offsets: [Int] = []
        for id in tokens {
            offsets.append(count)
            let piece = decoder.append(id)
            text += piece
            count += piece.unicodeScalars.count
        }
        text += decoder.flush()
        return (text, offsets)
    }

    /// OpenAI's completions `logprobs`: tokens, token_logprobs (null for the first prompt token),
    /// top_logprobs (token text → log-probability; null where token_logprobs is), text_offset.
    static func logprobsJSON(_ scored: [TokenLogProb], offsets: [Int], tokenizer: Tokenizer) -> JSONValue {
        // A token that is part of a character reads as its bytes, as OpenAI writes them ("bytes:\\xe6\\x97"),
        // so two such tokens stay two keys of top_logprobs.
        func piece(_ id: Int) -> String {
            let bytes = tokenizer.tokenBytes(id)
            if let text = String(validating: bytes, as: UTF8.self) { return text }
            return "bytes:" + bytes.map { String(format: "\\x%02x", $0) }.joined()
        }
        var tokens: [JSONValue] = [], logProbs: [JSONValue] = [], tops: [JSONValue] = []
        for s in scored {
            tokens.append(.string(piece(s.id)))
            guard let lp = s.logProb else { logProbs.append(.null); tops.append(.null); continue }
            logProbs.append(.double(Double(lp)))
            var top: [String: JSONValue] = [:]
            for t in s.top where top[piece(t.id)] == nil { top[piece(t.id)] = .double(Double(t.logProb)) }
            tops.append(.object(top))
        }
        return .object(["tokens": .array(tokens), "token_logprobs": .array(logProbs), "top_logprobs": .array(tops),
                        "text_offset": .array(offsets.map(JSONValue.int))])
    }
}
