// tokenizer_config.json as transformers writes it: the special tokens (each a string or an added-token
// object with "content"), whether to add BOS/EOS, the chat template (one string, or a list of named
// templates), and the model's maximum length. Property names are Hugging Face's own.
import Foundation

public struct TokenizerConfig: Codable, Sendable, Equatable {
    public var bos_token: SpecialToken?
    public var eos_token: SpecialToken?
    public var pad_token: SpecialToken?
    public var unk_token: SpecialToken?
    public var additional_special_tokens: [SpecialToken]?
    public var add_bos_token: Bool?
    public var add_eos_token: Bool?
    public var chat_template: ChatTemplates?
    /// nil when absent or when transformers wrote its "no limit" value (int(1e30)).
    public var model_max_length: Int?
    public var tokenizer_class: String?
    public var clean_up_tokenization_spaces: Bool?

    public init(bos_token: SpecialToken? = nil, eos_token: SpecialToken? = nil, pad_token: SpecialToken? = nil,
                unk_token: SpecialToken? = nil, additional_special_tokens: [SpecialToken]? = nil,
                add_bos_token: Bool? = nil, add_eos_token: Bool? = nil, chat_template: ChatTemplates? = nil,
                model_max_length: Int? = nil, tokenizer_class: String? = nil, clean_up_tokenization_spaces: Bool? = nil) {
        self.bos_token = bos_token; self.eos_token = eos_token; self.pad_token = pad_token; self.unk_token = unk_token
        self.additional_special_tokens = additional_special_tokens
        self.add_bos_token = add_bos_token; self.add_eos_token = add_eos_token; self.chat_template = chat_template
        self.model_max_length = model_max_length; self.tokenizer_class = tokenizer_class
        self.clean_up_tokenization_spaces = clean_up_tokenization_spaces
    }

    enum CodingKeys: String, CodingKey {
        case bos_token, eos_token, pad_token, unk_token, additional_special_tokens, add_bos_token, add_eos_token
        case chat_template, model_max_length, tokenizer_class, clean_up_tokenization_spaces
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bos_token = try c.decodeIfPresent(SpecialToken.self, forKey: .bos_token)
        eos_token = try c.decodeIfPresent(SpecialToken.self, forKey: .eos_token)
        pad_token = try c.decodeIfPresent(SpecialToken.self, forKey: .pad_token)
        unk_token = try c.decodeIfPresent(SpecialToken.self, forKey: .unk_token)
        additional_special_tokens = try c.decodeIfPresent([SpecialToken].self, forKey: .additional_special_tokens)
        add_bos_token = try c.decodeIfPresent(Bool.self, forKey: .add_bos_token)
        add_eos_token = try c.decodeIfPresent(Bool.self, forKey: .add_eos_token)
        chat_template = try c.decodeIfPresent(ChatTemplates.self, forKey: .chat_template)
        tokenizer_class = try c.decodeIfPresent(String.self, forKey: .tokenizer_class)
        clean_up_tokenization_spaces = try c.decodeIfPresent(Bool.self, forKey: .clean_up_tokenization_spaces)
        // transformers writes VERY_LARGE_INTEGER (int(1e30)) for "no limit", which no Int holds.
        if let n = try? c.decodeIfPresent(Int.self, forKey: .model_max_length) {
            model_max_length = n
        } else if let d = try c.decodeIfPresent(Double.self, forKey: .model_max_length) {
            guard d == d.rounded(), d >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .model_max_length, in: c, debugDescription: "not a whole number")
            }
            model_max_length = d < 0x1p62 ? Int(d) : nil
        } else {
            model_max_length = nil
        }
    }

    /// A special token: a plain string, or an added-token object whose "content" is the text.
    public struct SpecialToken: Codable, Sendable, Equatable, ExpressibleByStringLiteral {
        public var content: String

        public init(_ content: String) { self.content = content }
        public init(stringLiteral value: String) { content = value }

        private enum Keys: String, CodingKey { case content }

        public init(from decoder: Decoder) throws {
            if let s = try? decoder.singleValueContainer().decode(String.self) {
                content = s
            } else {
                content = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .content)
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(content)
        }
    }

    /// The chat template: transformers stores one string, or a list of {name, template} (with "default"
    /// used unless a caller asks for another, such as "tool_use").
    public struct ChatTemplates: Codable, Sendable, Equatable {
        public struct Named: Codable, Sendable, Equatable {
            public var name: String
            public var template: String
            public init(name: String, template: String) { self.name = name; self.template = template }
        }

        /// In file order; a single string is named "default".
        public var templates: [Named]
        /// Whether the file held a single string (so encoding writes it back the same way).
        public var isSingle: Bool

        public init(_ template: String) { templates = [Named(name: "default", template: template)]; isSingle = true }
        public init(named: [Named]) { templates = named; isSingle = false }

        /// The template called `name`; for "default", the only template when there is just one.
        public func template(named name: String = "default") -> String? {
            if let t = templates.first(where: { $0.name == name }) { return t.template }
            return name == "default" && templates.count == 1 ? templates[0].template : nil
        }

        public init(from decoder: Decoder) throws {
            if let s = try? decoder.singleValueContainer().decode(String.self) {
                self.init(s)
            } else {
                self.init(named: try decoder.singleValueContainer().decode([Named].self))
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            if isSingle, templates.count == 1 { try c.encode(templates[0].template) } else { try c.encode(templates) }
        }
    }

    public static func load(path: String) throws -> TokenizerConfig {
        try decodeJSON(TokenizerConfig.self, from: readConfigFile(path), path: path)
    }
}

/// The bytes of a JSON config file, or a CheckpointError naming it.
func readConfigFile(_ path: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw CheckpointError.cannotOpen(path: path, reason: "no such file")
    }
    guard !isDirectory.boolValue else { throw CheckpointError.cannotOpen(path: path, reason: "is a directory") }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw CheckpointError.cannotOpen(path: path, reason: "not readable")
    }
}
