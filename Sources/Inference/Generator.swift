// Text generation: run the prompt (reusing whatever prefix the session's cache already holds), then
// sample token by token, streaming whole characters, until EOS, a stop string, the token limit or
// the end of the context.
import Foundation
import Kernels
import Tokenizers

public struct GenerationOptions: Sendable {
    public var maxTokens: Int = 128
    public var sampling = SamplingParameters()
    /// Generation ends when the text contains one of these; the stop string itself is not returned.
    public var stopStrings: [String] = []
    /// End at the model's end-of-sequence tokens (their text is not returned).
    public var stopAtEOS = true

    public init() {}
}

public enum StopReason: String, Sendable, Codable {
    case endOfSequence = "eos", stopString = "stop", maxTokens = "length", contextFull = "context", cancelled
    /// Ctrl-C (Kernels' `Interrupt`), during the prompt or between tokens; what was generated is kept.
    case interrupted
}

public struct GenerationResult: Sendable {
    public var promptTokens: Int
    /// Prompt tokens actually computed (the rest came from the cache).
    public var promptTokensEvaluated: Int
    public var generatedTokens: [Int]
    public var text: String
    public var stopReason: StopReason
    public var promptSeconds: Double
    public var generationSeconds: Double
    public var timeToFirstToken: Double

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokensEvaluated) / promptSeconds : 0 }
    /// Decoding speed: tokens after the first, over the time they took.
    public var tokensPerSecond: Double {
        generationSeconds > 0 && generatedTokens.count > 1 ? Double(generatedTokens.count - 1) / generationSeconds : 0
    }
}

public final class Generator {
    public let session: InferenceSession
    public let tokenizer: Tokenizer

    public init(session: InferenceSession, tokenizer: Tokenizer) {
        self.session = session
        self.tokenizer = tokenizer
    }

    /// Generates after `promptTokens`. `onText` receives each piece of text as it becomes final
    /// (whole characters, never part of a possible stop string); returning false stops generation.
    /// An interrupt (Ctrl-C) ends it with `.interrupted` and the text so far, in the prompt too: the
    /// prompt batches computed before it stay cached.
    public func generate(promptTokens: [Int], options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        try options.sampling.validate()
        guard !promptTokens.isEmpty else { throw InferenceError.emptyInput }
        guard promptTokens.count <= session.contextLength else {
            throw InferenceError.contextOverflow(tokens: promptTokens.count, context: session.contextLength)
        }
        let clock = ContinuousClock()
        let start = clock.now

        // Reuse the cached prefix; at least the last prompt token is recomputed to get its logits.
        var shared = zip(session.tokens, promptTokens).prefix { $0 == $1 }.count
        shared = min(shared, promptTokens.count - 1)
        session.rewind(to: shared)
        let fresh = Array(promptTokens[shared...])
        var logits: [Float] = []
        var reason = StopReason.maxTokens
        do { logits = try session.forward(fresh, logits: .last) } catch is Interrupted { reason = .interrupted }
        let promptDone = clock.now
        let evaluated = session.position - shared

        var sampler = Sampler(options.sampling)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var generated: [Int] = [], text = "", pending = ""
        var firstTokenAt: ContinuousClock.Instant?
        let eos = Set(options.stopAtEOS ? tokenizer.eosTokenIDs : [])
        var history = promptTokens

        // Emits what is certainly final; returns false when a stop string was found or the caller stops.
        func emit(final: Bool) -> Bool {
            if let (range, _) = firstStop(in: pending, options.stopStrings) {
                let before = String(pending[..<range.lowerBound])
                text += before
                _ = onText(before)
                pending = ""
                reason = .stopString
                return false
            }
            let hold = final ? 0 : heldBack(pending, options.stopStrings)
            let cut = pending.index(pending.endIndex, offsetBy: -hold)
            let out = String(pending[..<cut])
            pending = String(pending[cut...])
            guard !out.isEmpty else { return true }
            text += out
            if !onText(out) { reason = .cancelled; return false }
            return true
        }

        var running = options.maxTokens > 0 && reason != .interrupted
        while running {
            if Interrupt.isRequested { reason = .interrupted; break }
            let next = logits.withUnsafeBufferPointer { sampler.sample($0, history: history) }
            if firstTokenAt == nil { firstTokenAt = clock.now }
            if eos.contains(next) { reason = .endOfSequence; break }
            generated.append(next)
            history.append(next)
            pending += decoder.append(next)
            guard emit(final: false) else { break }
            if generated.count >= options.maxTokens { reason = .maxTokens; break }
            if session.position >= session.contextLength { reason = .contextFull; break }
            do { logits = Array(try session.step(next)) } catch is Interrupted { reason = .interrupted; break }
            running = true
        }
        if reason != .stopString && reason != .cancelled {
            pending += decoder.flush()
            _ = emit(final: true)
        }
        let end = clock.now
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        return GenerationResult(
            promptTokens: promptTokens.count, promptTokensEvaluated: evaluated, generatedTokens: generated, text: text,
            stopReason: reason, promptSeconds: seconds(promptDone - start),
            generationSeconds: seconds(end - (firstTokenAt ?? end)), timeToFirstToken: seconds((firstTokenAt ?? end) - start))
    }
}

/// The earliest occurrence of any stop string in `text`.
func firstStop(in text: String, _ stops: [String]) -> (Range<String.Index>, String)? {
    var best: (Range<String.Index>, String)?
    for s in stops where !s.isEmpty {
        if let r = text.range(of: s), best == nil || r.lowerBound < best!.0.lowerBound { best = (r, s) }
    }
    return best
}

/// How many characters at the end of `text` could be the start of a stop string (held back until known).
func heldBack(_ text: String, _ stops: [String]) -> Int {
    var hold = 0
    for s in stops where !s.isEmpty {
        var n = min(s.count - 1, text.count)
        while n > hold {
            if text.hasSuffix(String(s.prefix(n))) { hold = n; break }
            n -= 1
        }
    }
    return hold
}
