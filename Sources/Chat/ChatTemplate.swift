// A chat format as data: the exact strings around the system prompt, user and assistant turns, the
// generation prompt, stop strings and BOS handling. One JSON file per format lives in prompts/.
// No Jinja: a checkpoint's own template is matched to one of these (TemplateDetection).
import Foundation
import Tokenizers

public struct ChatTemplate: Codable, Sendable, Equatable {
    /// Whether encoding the rendered text adds the tokenizer's special tokens (BOS) or none.
    public enum BOSHandling: String, Codable, Sendable {
        /// As the tokenizer does for `encode(text, addSpecialTokens: true)`.
        case tokenizer
        /// No special tokens added; any BOS is written in the strings (e.g. Llama 2's "<s>").
        case none
    }

    public var name: String
    public var description: String?
    /// Substrings that all appear in a checkpoint's chat template of this format (empty: never detected).
    public var detect: [String]
    public var bos: BOSHandling
    /// The system prompt used when the user sets none.
    public var systemDefault: String?
    /// Llama 2: the system block goes inside the first user turn, after `userPrefix`.
    public var systemInFirstUser: Bool
    public var systemPrefix: String
    public var systemSuffix: String
    public var userPrefix: String
    public var userSuffix: String
    /// Written before a turn's optional input (Japanese StableLM's "### 入力:").
    public var inputPrefix: String?
    /// The generation prompt: what comes before the answer the model is to write.
    public var assistantPrefix: String
    /// Before a finished answer when it differs from the generation prompt (Llama 2 puts a space).
    public var assistantHistoryPrefix: String?
    public var assistantSuffix: String
    /// Trim whitespace around message contents (Llama 2's template calls .strip()).
    public var stripContent: Bool
    /// Generation ends at these (in addition to the tokenizer's end-of-sequence tokens).
    public var stopStrings: [String]
    /// How the format writes a new line inside a message (rinna's "<NL>": its tokenizer has no "\n");
    /// nil: as "\n". Answers are turned back with `answerText`.
    public var newline: String?

    enum CodingKeys: String, CodingKey {
        case name, description, detect, bos
        case systemDefault = "system_default", systemInFirstUser = "system_in_first_user"
        case systemPrefix = "system_prefix", systemSuffix = "system_suffix"
        case userPrefix = "user_prefix", userSuffix = "user_suffix", inputPrefix = "input_prefix"
        case assistantPrefix = "assistant_prefix", assistantHistoryPrefix = "assistant_history_prefix"
        case assistantSuffix = "assistant_suffix", stripContent = "strip_content", stopStrings = "stop_strings", newline
    }

    public init(name: String, description: String? = nil, detect: [String] = [], bos: BOSHandling = .tokenizer,
                systemDefault: String? = nil, systemInFirstUser: Bool = false, systemPrefix: String = "",
                systemSuffix: String = "", userPrefix: String = "", userSuffix: String = "", inputPrefix: String? = nil,
                assistantPrefix: String = "", assistantHistoryPrefix: String? = nil, assistantSuffix: String = "",
                stripContent: Bool = false, stopStrings: [String] = [], newline: String? = nil) {
        self.name = name; self.description = description; self.detect = detect; self.bos = bos
        self.systemDefault = systemDefault; self.systemInFirstUser = systemInFirstUser
        self.systemPrefix = systemPrefix; self.systemSuffix = systemSuffix
        self.userPrefix = userPrefix; self.userSuffix = userSuffix; self.inputPrefix = inputPrefix
        self.assistantPrefix = assistantPrefix; self.assistantHistoryPrefix = assistantHistoryPrefix
        self.assistantSuffix = assistantSuffix; self.stripContent = stripContent; self.stopStrings = stopStrings
        self.newline = newline
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        detect = try c.decodeIfPresent([String].self, forKey: .detect) ?? []
        bos = try c.decodeIfPresent(BOSHandling.self, forKey: .bos) ?? .tokenizer
        systemDefault = try c.decodeIfPresent(String.self, forKey: .systemDefault)
        systemInFirstUser = try c.decodeIfPresent(Bool.self, forKey: .systemInFirstUser) ?? false
        systemPrefix = try c.decodeIfPresent(String.self, forKey: .systemPrefix) ?? ""
        systemSuffix = try c.decodeIfPresent(String.self, forKey: .systemSuffix) ?? ""
        userPrefix = try c.decodeIfPresent(String.self, forKey: .userPrefix) ?? ""
        userSuffix = try c.decodeIfPresent(String.self, forKey: .userSuffix) ?? ""
        inputPrefix = try c.decodeIfPresent(String.self, forKey: .inputPrefix)
        assistantPrefix = try c.decodeIfPresent(String.self, forKey: .assistantPrefix) ?? ""
        assistantHistoryPrefix = try c.decodeIfPresent(String.self, forKey: .assistantHistoryPrefix)
        assistantSuffix = try c.decodeIfPresent(String.self, forKey: .assistantSuffix) ?? ""
        stripContent = try c.decodeIfPresent(Bool.self, forKey: .stripContent) ?? false
        stopStrings = try c.decodeIfPresent([String].self, forKey: .stopStrings) ?? []
        newline = try c.decodeIfPresent(String.self, forKey: .newline)
    }

    /// The built-in plain completion format, used when prompts/ cannot be found.
    public static let plain = ChatTemplate(
        name: "plain", description: "Plain completion for base models.", systemSuffix: "\n\n", assistantSuffix: "\n\n",
        stopStrings: ["\n\n\n"])

    /// The conversation as text. `system`: the system prompt to use (nil or empty: none). With
    /// `addGenerationPrompt`, a last turn without an answer ends with the assistant prefix.
    public func render(system: String?, turns: [Turn], addGenerationPrompt: Bool = true) -> String {
        segments(system: system, turns: turns, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// The rendered text in pieces, each marked as an answer of the assistant (what supervised
    /// fine-tuning trains on: the answer and its closing suffix) or not (everything the model reads).
    public func segments(system: String?, turns: [Turn], addGenerationPrompt: Bool = true) -> [(text: String, isAnswer: Bool)] {
        func content(_ s: String) -> String {
            let text = stripContent ? s.trimmingCharacters(in: .whitespacesAndNewlines) : s
            return newline.map { text.replacingOccurrences(of: "\n", with: $0) } ?? text
        }
        let system = system.map(content).flatMap { $0.isEmpty ? nil : $0 }
        var pieces: [(text: String, isAnswer: Bool)] = []
        var text = ""
        if let system, !systemInFirstUser { text += systemPrefix + system + systemSuffix }
        for (i, turn) in turns.enumerated() {
            text += userPrefix
            if i == 0, systemInFirstUser, let system { text += systemPrefix + system + systemSuffix }
            text += content(turn.user) + userSuffix
            if let input = turn.input, !input.isEmpty, let inputPrefix { text += inputPrefix + content(input) }
            if let answer = turn.assistant {
                text += assistantHistoryPrefix ?? assistantPrefix
                pieces.append((text, false))
                text = ""
                pieces.append((content(answer) + assistantSuffix, true))
            } else if i == turns.count - 1 && addGenerationPrompt {
                text += assistantPrefix
            }
        }
        if !text.isEmpty { pieces.append((text, false)) }
        return pieces
    }

    /// A Jinja chat template (Hugging Face `tokenizer_config.json` → `chat_template`) that renders
    /// the same text for system/user/assistant messages, so other tools format conversations as the
    /// model was trained and detection recognises the format again.
    public var jinjaSource: String {
        func literal(_ s: String) -> String {
            var out = "'"
            for c in s.unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "'": out += "\\'"
                case "\n": out += "\\n"
                default: out.unicodeScalars.append(c)
                }
            }
            return out + "'"
        }
        // rinna's <NL>: the template writes new lines in messages as the format does.
        let content = newline.map { "message['content'].replace('\\n', \(literal($0)))" } ?? "message['content']"
        let system = systemDefault.map { "{% if messages[0]['role'] != 'system' %}{{ \(literal(systemPrefix + $0 + systemSuffix)) }}{% endif %}" } ?? ""
        return system
            + "{% for message in messages %}"
            + "{% if message['role'] == 'system' %}{{ \(literal(systemPrefix)) + \(content) + \(literal(systemSuffix)) }}"
            + "{% elif message['role'] == 'user' %}{{ \(literal(userPrefix)) + \(content) + \(literal(userSuffix)) }}"
            + "{% elif message['role'] == 'assistant' %}{{ \(literal(assistantHistoryPrefix ?? assistantPrefix)) + \(content) + \(literal(assistantSuffix)) }}"
            + "{% endif %}{% endfor %}"
            + "{% if add_generation_prompt %}{{ \(literal(assistantPrefix)) }}{% endif %}"
    }

    /// A generated answer as the user reads it: the format's newline marker back to "\n".
    public func answerText(_ generated: String) -> String {
        newline.map { generated.replacingOccurrences(of: $0, with: "\n") } ?? generated
    }

    /// Rendered text to token ids; special tokens written in the strings are matched inline.
    public func encode(_ text: String, with tokenizer: Tokenizer) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: bos == .tokenizer)
    }
}
