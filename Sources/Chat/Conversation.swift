// What a chat is, independent of any model: the system prompt, the turns so far and the sampling
// settings; and the JSON file /save writes and /load reads.
import Checkpoints
import Foundation
import Inference

public struct Turn: Codable, Sendable, Equatable {
    public var user: String
    /// Optional extra input for instruction formats that have a slot for it (Japanese StableLM).
    public var input: String?
    /// nil while the answer is still to be generated.
    public var assistant: String?

    public init(user: String, input: String? = nil, assistant: String? = nil) {
        self.user = user; self.input = input; self.assistant = assistant
    }
}

public struct Conversation: Codable, Sendable, Equatable {
    /// The system prompt the user set; nil means the format's (or checkpoint's) default, "" means none.
    public var system: String?
    public var turns: [Turn]

    public init(system: String? = nil, turns: [Turn] = []) {
        self.system = system; self.turns = turns
    }
}

/// The settings a user changes with /set; names as llama.cpp's flags. The sampling part is the
/// generator's own SamplingParameters (so every sampling option reaches it); a saved chat stores
/// them flat, as before.
public struct ChatSettings: Codable, Sendable, Equatable {
    public var sampling: SamplingParameters
    public var maxTokens: Int = 512

    /// The chat's defaults: llama.cpp's sampling, seed 42 (a seed reproduces a session).
    public static var defaultSampling: SamplingParameters {
        var p = SamplingParameters()
        p.seed = 42
        return p
    }

    public init(sampling: SamplingParameters = ChatSettings.defaultSampling, maxTokens: Int = 512) {
        self.sampling = sampling
        self.maxTokens = maxTokens
    }

    enum CodingKeys: String, CodingKey {
        case temperature, topK = "top_k", topP = "top_p", minP = "min_p", repeatPenalty = "repeat_penalty"
        case repeatLastN = "repeat_last_n", maxTokens = "max_tokens", seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var p = Self.defaultSampling
        p.temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? p.temperature
        p.topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? p.topK
        p.topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? p.topP
        p.minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? p.minP
        p.repetitionPenalty = try c.decodeIfPresent(Float.self, forKey: .repeatPenalty) ?? p.repetitionPenalty
        p.repeatLastN = try c.decodeIfPresent(Int.self, forKey: .repeatLastN) ?? p.repeatLastN
        p.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? p.seed
        sampling = p
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? 512
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sampling.temperature, forKey: .temperature)
        try c.encode(sampling.topK, forKey: .topK)
        try c.encode(sampling.topP, forKey: .topP)
        try c.encode(sampling.minP, forKey: .minP)
        try c.encode(sampling.repetitionPenalty, forKey: .repeatPenalty)
        try c.encode(sampling.repeatLastN, forKey: .repeatLastN)
        try c.encode(maxTokens, forKey: .maxTokens)
        try c.encode(sampling.seed, forKey: .seed)
    }

    /// The names /set accepts, in /show order.
    public static let names = ["temp", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "max_tokens", "seed"]

    /// Sets one value from text; throws a message naming the setting and its range.
    public mutating func set(_ name: String, to value: String) throws {
        var copy = self
        func float() throws -> Float {
            guard let f = Float(value), f.isFinite else { throw ChatError.invalidSetting("\(name) needs a number (got \"\(value)\")") }
            return f
        }
        func int() throws -> Int {
            guard let i = Int(value) else { throw ChatError.invalidSetting("\(name) needs a whole number (got \"\(value)\")") }
            return i
        }
        switch name {
        case "temp", "temperature": copy.sampling.temperature = try float()
        case "top_k", "top-k": copy.sampling.topK = try int()
        case "top_p", "top-p": copy.sampling.topP = try float()
        case "min_p", "min-p": copy.sampling.minP = try float()
        case "repeat_penalty", "repeat-penalty": copy.sampling.repetitionPenalty = try float()
        case "repeat_last_n", "repeat-last-n": copy.sampling.repeatLastN = try int()
        case "max_tokens", "max-tokens", "n_predict": copy.maxTokens = try int()
        case "seed":
            guard let s = UInt64(value) else { throw ChatError.invalidSetting("seed needs a whole number ≥ 0 (got \"\(value)\")") }
            copy.sampling.seed = s
        default:
            throw ChatError.invalidSetting("unknown setting \"\(name)\" (one of: \(Self.names.joined(separator: ", ")))")
        }
        try copy.validate()
        self = copy
    }

    public func validate() throws {
        guard maxTokens >= 1 else { throw ChatError.invalidSetting("max_tokens must be ≥ 1 (got \(maxTokens))") }
        do { try sampling.validate() } catch { throw ChatError.invalidSetting("\(error)") }
    }

    /// One line per setting, for /show.
    public var summary: [(String, String)] {
        [("temp", "\(sampling.temperature)"), ("top_k", "\(sampling.topK)"), ("top_p", "\(sampling.topP)"), ("min_p", "\(sampling.minP)"),
         ("repeat_penalty", "\(sampling.repetitionPenalty)"), ("repeat_last_n", "\(sampling.repeatLastN)"),
         ("max_tokens", "\(maxTokens)"), ("seed", "\(sampling.seed)")]
    }

    /// The sampling of the n-th generation of a session: its own seed (seed + n), so /retry samples anew.
    public func sampling(generation n: UInt64) -> SamplingParameters {
        var p = sampling
        p.seed = sampling.seed &+ n
        return p
    }
}

/// A saved chat: the conversation, the settings, and which model and format it was held with.
public struct SavedChat: Codable, Sendable, Equatable {
    public var version: Int
    public var model: String?
    public var template: String
    public var conversation: Conversation
    public var settings: ChatSettings

    public init(model: String?, template: String, conversation: Conversation, settings: ChatSettings) {
        version = 1; self.model = model; self.template = template; self.conversation = conversation; self.settings = settings
    }

    public func write(to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(self)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // Write beside, then rename: an interrupted save leaves the old file whole, a failed one (a full disk) no
        // temporary file.
        try AtomicFile.write(data, to: url.path)
    }

    public static func read(from url: URL) throws -> SavedChat {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ChatError.savedChat(path: url.path, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ChatError.savedChat(path: url.path, reason: "cannot read the file")
        }
        let chat: SavedChat
        do { chat = try JSONDecoder().decode(SavedChat.self, from: data) } catch {
            throw ChatError.savedChat(path: url.path, reason: "not a saved chat (\(Self.describe(error)))")
        }
        guard chat.version == 1 else { throw ChatError.savedChat(path: url.path, reason: "unsupported version \(chat.version)") }
        do { try chat.settings.validate() } catch { throw ChatError.savedChat(path: url.path, reason: "\(error)") }
        return chat
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): return c.underlyingError.map { "\($0.localizedDescription)" } ?? c.debugDescription
        case DecodingError.keyNotFound(let k, _): return "missing \"\(k.stringValue)\""
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        default: return "\(error)"
        }
    }
}
