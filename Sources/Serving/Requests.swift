// The two generation requests a client sends, parsed and checked: `/v1/completions` (a prompt as
// text, token ids, or a list of either) and `/v1/chat/completions` (messages rendered with the
// model's chat template). Sampling uses the engine's own SamplingParameters with OpenAI's defaults
// (temperature 1, top_p 1, no top_k or min_p).
import Basics
import Chat
import Foundation
import Inference

enum Prompt: Equatable {
    case text(String)
    case tokens([Int])
}

/// Sampling and stopping as a request sets them.
struct GenerationSettings {
    var maxTokens: Int?
    var sampling: SamplingParameters
    var stop: [String]
    var stream: Bool
    /// Streaming only: a last chunk with the token counts (`stream_options.include_usage`).
    var streamUsage: Bool

    init(_ fields: RequestFields, maxTokensKeys: [String]) throws {
        var maxTokens: Int?
        for key in maxTokensKeys where fields.isPresent(key) { maxTokens = try fields.int(key, in: 0...1_000_000) }
        self.maxTokens = maxTokens
        var p = SamplingParameters()
        p.temperature = Float(try fields.number("temperature", in: 0...100) ?? 1)
        p.topP = Float(try fields.number("top_p", in: 0...1) ?? 1)
        guard p.topP > 0 else { throw OpenAIError.invalid("top_p", "'top_p' must be greater than 0") }
        p.topK = try fields.int("top_k", in: -1...1_000_000).map { max($0, 0) } ?? 0   // vLLM spells "off" -1
        p.minP = Float(try fields.number("min_p", in: 0...1) ?? 0)
        if let seed = try fields.int("seed", in: Int.min...Int.max) {
            p.seed = UInt64(bitPattern: Int64(seed))
        } else {
            p.seed = UInt64.random(in: 0...UInt64.max)
        }
        sampling = p
        stop = try fields.stopStrings()
        stream = try fields.bool("stream") ?? false
        if let n = try fields.int("n", in: Int.min...Int.max), n != 1 {
            throw OpenAIError.invalid("n", "'n' must be 1: this server returns one choice per prompt")
        }
        switch fields.object["stream_options"] {
        case nil, .null?: streamUsage = false
        case .object(let o)?:
            guard let include = o["include_usage"] else { streamUsage = false; break }
            guard case .bool(let b) = include else {
                throw OpenAIError.invalid("stream_options", "'stream_options.include_usage' must be true or false")
            }
            streamUsage = b
        default: throw OpenAIError.invalid("stream_options", "'stream_options' must be an object")
        }
    }
}

struct CompletionRequest {
    var model: String?
    var prompts: [Prompt]
    var settings: GenerationSettings
    /// Log-probabilities of the `logprobs` most likely tokens at each position (nil: none).
    var logprobs: Int?
    /// Return the prompt before the completion (with its log-probabilities when `logprobs` is set).
    var echo: Bool

    init(_ fields: RequestFields) throws {
        model = try fields.string("model")
        prompts = try Self.prompts(fields.object["prompt"])
        settings = try GenerationSettings(fields, maxTokensKeys: ["max_tokens"])
        logprobs = try fields.int("logprobs", in: 0...20)
        echo = try fields.bool("echo") ?? false
        if settings.stream && logprobs != nil {
            throw OpenAIError.invalid("logprobs", "'logprobs' is not supported with 'stream': ask without streaming")
        }
    }

    /// OpenAI's four prompt shapes: "text", ["text", ...], [1, 2, 3], [[1, 2], [3]].
    static func prompts(_ value: JSONValue?) throws -> [Prompt] {
        let wrong = OpenAIError.invalid("prompt", "'prompt' must be a string, a list of strings, a list of token ids or a list of such lists")
        func tokens(_ list: [JSONValue]) throws -> [Int] {
            try list.map {
                guard case .int(let id) = $0 else { throw wrong }
                return id
            }
        }
        switch value {
        case nil, .null?: throw OpenAIError.invalid("prompt", "'prompt' is required")
        case .string(let s)?: return [.text(s)]
        case .array(let list)?:
            guard let first = list.first else { throw OpenAIError.invalid("prompt", "'prompt' is an empty list") }
            switch first {
            case .int: return [.tokens(try tokens(list))]
            case .string:
                return try list.map {
                    guard case .string(let s) = $0 else { throw wrong }
                    return .text(s)
                }
            case .array:
                return try list.map {
                    guard case .array(let ids) = $0 else { throw wrong }
                    return .tokens(try tokens(ids))
                }
            default: throw wrong
            }
        default: throw wrong
        }
    }
}

struct ChatRequest {
    var model: String?
    var system: String?
    var turns: [Turn]
    var settings: GenerationSettings

    init(_ fields: RequestFields) throws {
        model = try fields.string("model")
        settings = try GenerationSettings(fields, maxTokensKeys: ["max_tokens", "max_completion_tokens"])
        guard case .array(let messages)? = fields.object["messages"], !messages.isEmpty else {
            throw OpenAIError.invalid("messages", "'messages' must be a non-empty list of {role, content}")
        }
        var system: String?
        var turns: [Turn] = []
        for (i, message) in messages.enumerated() {
            let param = "messages[\(i)]"
            guard case .object(let m) = message, case .string(let role)? = m["role"] else {
                throw OpenAIError.invalid(param, "\(param) must be an object with a string 'role'")
            }
            let content = try Self.content(m["content"], param: param)
            switch role {
            case "system", "developer":
                guard turns.isEmpty else { throw OpenAIError.invalid(param, "\(param): a system message must come before the conversation") }
                system = system.map { $0 + "\n" + content } ?? content
            case "user":
                if let last = turns.last, last.assistant == nil {
                    turns[turns.count - 1].user += "\n" + content   // two user messages in a row read as one
                } else {
                    turns.append(Turn(user: content))
                }
            case "assistant":
                guard let last = turns.last, last.assistant == nil else {
                    throw OpenAIError.invalid(param, "\(param): an assistant message must answer a user message")
                }
                turns[turns.count - 1].assistant = content
            default:
                throw OpenAIError.invalid(param, "\(param): role '\(role)' is not one of system, user, assistant")
            }
        }
        guard let last = turns.last, last.assistant == nil else {
            throw OpenAIError.invalid("messages", "the last message must be from the user")
        }
        self.system = system
        self.turns = turns
    }

    /// A message's content: a string, or a list of parts of which the text ones are joined.
    static func content(_ value: JSONValue?, param: String) throws -> String {
        switch value {
        case .string(let s)?: return s
        case .array(let parts)?:
            return try parts.map { part -> String in
                guard case .object(let p) = part, p["type"] == .string("text"), case .string(let text)? = p["text"] else {
                    throw OpenAIError.invalid(param, "\(param): only text content parts ({\"type\": \"text\", \"text\": ...}) are supported")
                }
                return text
            }.joined()
        default: throw OpenAIError.invalid(param, "\(param) must have a string 'content'")
        }
    }
}
