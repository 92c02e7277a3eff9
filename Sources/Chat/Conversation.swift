// What a chat is, independent of any model: the system prompt, the turns so far and the sampling
// settings; and the JSON file /save writes and /load reads.
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

/// The settings a user changes with /set; names as llama.cpp's flags.
public struct ChatSettings: Codable, Sendable, Equatable {
    public var temperature: Float = 0.8
    public var topK: Int = 40
    public var topP: Float = 0.95
    public var minP: Float = 0.05
    public var repeatPenalty: Float = 1.0
    public var maxTokens: Int = 512
    public var seed: UInt64 = 42

    public init() {}

    enum CodingKeys: String, CodingKey {
        case temperature, topK = "top_k", topP = "top_p", minP = "min_p", repeatPenalty = "repeat_penalty"
        case maxTokens = "max_tokens", seed
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ChatSettings()
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? d.temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? d.topK
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? d.topP
        minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? d.minP
        repeatPenalty = try c.decodeIfPresent(Float.self, forKey: .repeatPenalty) ?? d.repeatPenalty
        maxTokens = try c.decodeIfPresent(Int.self, forKey: .maxTokens) ?? d.maxTokens
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
    }

    /// The names /set accepts, in /show order.
    public static let names = ["temp", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "seed"]

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
        case "temp", "temperature": copy.temperature = try float()
        case "top_k", "top-k": copy.topK = try int()
        case "top_p", "top-p": copy.topP = try float()
        case "min_p", "min-p": copy.minP = try float()
        case "repeat_penalty", "repeat-penalty": copy.repeatPenalty = try float()
        case "max_tokens", "max-tokens", "n_predict": copy.maxTokens = try int()
        case "seed":
            guard let s = UInt64(value) else { throw ChatError.invalidSetting("seed needs a whole number ≥ 0 (got \"\(value)\")") }
            copy.seed = s
        default:
            throw ChatError.invalidSetting("unknown setting \"\(name)\" (one of: \(Self.names.joined(separator: ", ")))")
        }
        try copy.validate()
        self = copy
    }

    public func validate() throws {
        guard maxTokens >= 1 else { throw ChatError.invalidSetting("max_tokens must be ≥ 1 (got \(maxTokens))") }
        do { try sampling(seed: seed).validate() } catch { throw ChatError.invalidSetting("\(error)") }
    }

    /// One line per setting, for /show.
    public var summary: [(String, String)] {
        [("temp", "\(temperature)"), ("top_k", "\(topK)"), ("top_p", "\(topP)"), ("min_p", "\(minP)"),
         ("repeat_penalty", "\(repeatPenalty)"), ("max_tokens", "\(maxTokens)"), ("seed", "\(seed)")]
    }

    public func sampling(seed: UInt64) -> SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.topK = topK; p.topP = topP; p.minP = minP
        p.repetitionPenalty = repeatPenalty; p.seed = seed
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
        // Write beside, then rename: an interrupted save leaves the old file whole.
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try data.write(to: temporary)
        if FileManager.default.fileExists(atPath: url.path) { _ = try FileManager.default.replaceItemAt(url, withItemAt: temporary) }
        else { try FileManager.default.moveItem(at: temporary, to: url) }
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
