// A conversation held with one model. The model's KV cache persists across turns: each turn's
// prompt is the whole conversation rendered again, and the generator recomputes only what the cache
// does not already hold (the new turn). When the context fills, the oldest turns are dropped (the
// system prompt stays) and the caller is told.
import Foundation
import Inference
import Tokenizers

/// What one answered turn produced.
public struct TurnResult: Sendable {
    public var answer: String
    public var generation: GenerationResult
    /// Oldest turns dropped to make room in the context before this turn.
    public var droppedTurns: Int
    /// Positions in use after the turn, and the context size.
    public var contextUsed: Int
    public var contextSize: Int
}

public final class ChatSession {
    public private(set) var model: LanguageModel
    public var template: ChatTemplate
    /// The checkpoint's own default system message (see TemplateDetection), used when the user sets none.
    public var checkpointSystem: String?
    public var conversation = Conversation()
    public var settings: ChatSettings {
        didSet { if settings.sampling.seed != oldValue.sampling.seed { generations = 0 } }
    }
    /// Positions the cache holds (the prompt and answer of the last generation).
    public private(set) var contextUsed = 0
    /// Generations so far: each draws with seed + this count, so /retry samples anew but a seed reproduces a session.
    private var generations: UInt64 = 0

    public init(model: LanguageModel, template: ChatTemplate, checkpointSystem: String? = nil, settings: ChatSettings = ChatSettings()) {
        self.model = model
        self.template = template
        self.checkpointSystem = checkpointSystem
        self.settings = settings
    }

    public var contextSize: Int { model.contextLength }
    public var tokenizer: Tokenizer { model.tokenizer }

    /// The system prompt in effect: the user's, else the checkpoint's, else the format's default.
    public var effectiveSystem: String? { conversation.system ?? checkpointSystem ?? template.systemDefault }

    /// The text the model sees for `conversation` (ending with the generation prompt when the last turn has no answer).
    public func render(_ conversation: Conversation? = nil, addGenerationPrompt: Bool = true) -> String {
        let c = conversation ?? self.conversation
        let system = c.system ?? checkpointSystem ?? template.systemDefault
        return template.render(system: system, turns: c.turns, addGenerationPrompt: addGenerationPrompt)
    }

    public func promptTokens(_ conversation: Conversation? = nil, addGenerationPrompt: Bool = true) -> [Int] {
        template.encode(render(conversation, addGenerationPrompt: addGenerationPrompt), with: tokenizer)
    }

    /// Sends a user message and generates the answer, streaming it to `onText` (return false to stop;
    /// the partial answer is kept; so it is after Ctrl-C, stop reason `.interrupted`). Throws ChatError.messageTooLong when even the message alone with
    /// the system prompt does not fit the context.
    @discardableResult
    public func send(_ message: String, input: String? = nil, onText: (String) -> Bool = { _ in true }) throws -> TurnResult {
        guard !message.isEmpty else { throw ChatError.emptyMessage }
        var next = conversation
        next.turns.append(Turn(user: message, input: input))
        return try answer(next, onText: onText)
    }

    /// Generates the last answer again (with the next seed; at temperature 0 the same answer).
    @discardableResult
    public func retry(onText: (String) -> Bool = { _ in true }) throws -> TurnResult {
        guard let last = conversation.turns.last, last.assistant != nil else { throw ChatError.nothingToRetry }
        var next = conversation
        next.turns[next.turns.count - 1].assistant = nil
        return try answer(next, onText: onText)
    }

    /// Removes the last exchange; returns it, or nil when the conversation is empty.
    @discardableResult
    public func undo() -> Turn? {
        conversation.turns.popLast()
    }

    /// Forgets the turns (keeps the system prompt and settings).
    public func reset() {
        conversation.turns.removeAll()
    }

    /// Changes the model; the conversation stays and the cache is computed afresh on the next turn.
    public func replaceModel(_ model: LanguageModel, template: ChatTemplate, checkpointSystem: String?) {
        self.model = model
        self.template = template
        self.checkpointSystem = checkpointSystem
        contextUsed = 0
    }

    /// Runs the whole conversation (all turns answered) through the model so the next turn only
    /// computes its own tokens; used after /load. Drops oldest turns when it does not fit.
    @discardableResult
    public func recomputeCache() throws -> Int {
        guard !conversation.turns.isEmpty else { return 0 }
        let (kept, tokens, dropped) = try fitting(conversation, limit: contextSize - min(settings.maxTokens, contextSize / 4),
                                                  addGenerationPrompt: false)
        conversation = kept
        guard tokens.count <= contextSize else { throw ChatError.messageTooLong(tokens: tokens.count, context: contextSize) }
        var options = GenerationOptions()
        options.maxTokens = 0
        let result = try model.generate(prompt: tokens, options: options) { _ in true }
        contextUsed = result.promptTokens
        return dropped
    }

    /// The most bytes the context can hold (PromptText.byteBound), for the current model.
    private var byteBound: Int {
        if let cached = cachedByteBound, cached.model === model { return cached.bound }
        let bound = PromptText.byteBound(contextLength: contextSize, tokenizer: tokenizer)
        cachedByteBound = (model, bound)
        return bound
    }
    private var cachedByteBound: (model: LanguageModel, bound: Int)?

    /// The newest turns of `candidate` whose prompt has at most `limit` tokens (at least the last turn), with the
    /// prompt's tokens and how many turns were dropped. The oldest are dropped as one at a time would, but the
    /// cut is found by bisection over suffixes no longer than the context can hold, so a history of n turns costs
    /// O(n) plus a few renders of one context's worth, and a message over the context is refused untokenized.
    private func fitting(_ candidate: Conversation, limit: Int, addGenerationPrompt: Bool) throws -> (Conversation, [Int], Int) {
        let turns = candidate.turns
        guard let last = turns.last else { return (candidate, promptTokens(candidate, addGenerationPrompt: addGenerationPrompt), 0) }
        let bound = byteBound
        func bytes(_ t: Turn) -> Int { t.user.utf8.count + (t.input?.utf8.count ?? 0) + (t.assistant?.utf8.count ?? 0) }
        guard bytes(last) <= bound else { throw ChatError.messageOverContext(bytes: bytes(last), byteBound: bound, context: contextSize) }
        func suffix(_ k: Int) -> Conversation {
            var c = candidate
            c.turns = Array(turns.suffix(k))
            return c
        }
        // Turns whose text alone exceeds what the context holds cannot all stay; each turn is at least a token.
        var most = 1, text = bytes(last)
        while most < min(turns.count, contextSize) {
            text += bytes(turns[turns.count - 1 - most])
            if text > bound { break }
            most += 1
        }
        if most == turns.count {
            let tokens = promptTokens(candidate, addGenerationPrompt: addGenerationPrompt)
            if tokens.count <= limit || turns.count == 1 { return (candidate, tokens, 0) }
            most -= 1
        }
        var low = 1, high = most, keep = 1, keptTokens: [Int]?
        while low <= high {
            let k = (low + high) / 2
            let tokens = promptTokens(suffix(k), addGenerationPrompt: addGenerationPrompt)
            if tokens.count <= limit { keep = k; keptTokens = tokens; low = k + 1 } else { high = k - 1 }
        }
        return (suffix(keep), keptTokens ?? promptTokens(suffix(1), addGenerationPrompt: addGenerationPrompt), turns.count - keep)
    }

    private func answer(_ candidate: Conversation, onText: (String) -> Bool) throws -> TurnResult {
        try settings.validate()
        // Leave room for an answer: max_tokens, but at most a quarter of the context.
        let reserve = min(settings.maxTokens, contextSize / 4)
        let (fitted, tokens, dropped) = try fitting(candidate, limit: contextSize - reserve, addGenerationPrompt: true)
        guard tokens.count < contextSize else { throw ChatError.messageTooLong(tokens: tokens.count, context: contextSize) }
        var next = fitted

        var options = GenerationOptions()
        options.maxTokens = min(settings.maxTokens, contextSize - tokens.count)
        options.sampling = settings.sampling(generation: generations)
        options.stopStrings = template.stopStrings
        generations &+= 1
        // A piece ending in U+FFFD may be a character cut off by the token limit (the generator
        // flushes incomplete bytes as U+FFFD): hold it until more text shows it was real.
        var held = ""
        var markers = template.newline.map(NewlineMarkerStream.init(marker:))
        let result = try model.generate(prompt: tokens, options: options) { piece in
            let out = held + (markers?.push(piece) ?? piece)
            held = ""
            if out.hasSuffix("\u{FFFD}") { held = out; return true }
            return out.isEmpty ? true : onText(out)
        }
        held += markers?.finish() ?? ""
        var text = template.answerText(result.text)
        let cut = [.maxTokens, .contextFull, .cancelled, .interrupted].contains(result.stopReason)
        if cut { text = text.droppingTrailingReplacementCharacters() }
        if !held.isEmpty {
            let rest = cut ? held.droppingTrailingReplacementCharacters() : held
            if !rest.isEmpty { _ = onText(rest) }
        }
        if template.stripContent { text = text.trimmingCharacters(in: .whitespacesAndNewlines) }
        // Interrupted before the first token (during a long prompt): the message is not kept, as if
        // never sent; the prompt batches already computed stay cached for a resend.
        let keep = !(result.stopReason == .interrupted && result.generatedTokens.isEmpty)
        next.turns[next.turns.count - 1].assistant = text
        if keep { conversation = next }
        if keep { contextUsed = min(contextSize, result.promptTokens + result.generatedTokens.count) }
        return TurnResult(answer: text, generation: result, droppedTurns: dropped, contextUsed: contextUsed, contextSize: contextSize)
    }
}

extension String {
    func droppingTrailingReplacementCharacters() -> String {
        var s = Substring(self)
        while s.last == "\u{FFFD}" { s = s.dropLast() }
        return String(s)
    }
}
