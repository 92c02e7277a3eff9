// Which known format a checkpoint's chat template (tokenizer_config.json `chat_template`, GGUF
// `tokenizer.chat_template`) is. There is no Jinja engine: formats are recognised by their
// characteristic markers, and a default system message written literally in the template
// (SmolLM2's) is taken over.
import Foundation
import Checkpoints
import Inference

public struct TemplateDetection: Sendable {
    public var template: ChatTemplate
    /// A system message the checkpoint's template inserts when the conversation has none.
    public var defaultSystem: String?
    /// False when the checkpoint has no template or it matched no known format (plain is used).
    public var matched: Bool
    /// One line for the user: what was found and what is used.
    public var notice: String

    /// Where a template was found, for the notice.
    public enum Origin: String, Sendable {
        case checkpoint = "the checkpoint", adapter = "the adapter"
    }

    /// Matches `source` (a checkpoint's Jinja chat template, or nil when it has none).
    public static func detect(source: String?, library: TemplateLibrary, origin: Origin = .checkpoint) -> TemplateDetection {
        let plain = library.templates["plain"] ?? .plain
        guard let source, !source.isEmpty else {
            return TemplateDetection(template: plain, defaultSystem: nil, matched: false,
                                     notice: "\(origin.rawValue) has no chat template: using plain completion (choose a format with /template NAME)")
        }
        // Most specific first: more markers, then by name for a stable order.
        let candidates = library.templates.values.filter { !$0.detect.isEmpty }
            .sorted { $0.detect.count != $1.detect.count ? $0.detect.count > $1.detect.count : $0.name < $1.name }
        guard let found = candidates.first(where: { t in t.detect.allSatisfy { source.contains($0) } }) else {
            return TemplateDetection(template: plain, defaultSystem: nil, matched: false,
                                     notice: "\(origin.rawValue)'s chat template matches no known format: using plain completion (choose one with /template NAME)")
        }
        let system = literalSystemMessage(in: source, template: found)
        var notice = "chat template: \(found.name) (detected from \(origin.rawValue))"
        if let system { notice += "; default system message: \"\(system)\"" }
        return TemplateDetection(template: found, defaultSystem: system, matched: true, notice: notice)
    }

    /// The text between the system prefix and the system suffix, when the template writes it as a
    /// literal (no Jinja expressions inside).
    static func literalSystemMessage(in source: String, template: ChatTemplate) -> String? {
        guard !template.systemPrefix.isEmpty, !template.systemSuffix.isEmpty else { return nil }
        // Jinja string literals may spell a new line as the escape \n.
        let text = source.replacingOccurrences(of: "\\n", with: "\n")
        let end = template.systemSuffix.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !end.isEmpty, let start = text.range(of: template.systemPrefix),
              let stop = text.range(of: end, range: start.upperBound..<text.endIndex) else { return nil }
        let message = String(text[start.upperBound..<stop.lowerBound])
        let jinja: Set<Character> = ["{", "}", "'", "\"", "+", "%"]
        guard !message.isEmpty, !message.contains(where: { jinja.contains($0) }) else { return nil }
        return message
    }

    /// The chat template a checkpoint carries: tokenizer_config.json in a folder, or GGUF metadata.
    public static func checkpointTemplate(path: String) -> String? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return nil }
        if isDir.boolValue {
            let configPath = (path as NSString).appendingPathComponent("tokenizer_config.json")
            guard FileManager.default.fileExists(atPath: configPath),
                  let config = try? TokenizerConfig.load(path: configPath) else { return nil }
            return config.chat_template?.template(named: "default")
        }
        return (try? GGUFFile(path: path))?.string("tokenizer.chat_template")
    }

    /// Detection for a loaded model (its GGUF metadata or its folder's tokenizer_config.json).
    /// A model run with a LoRA adapter whose folder carries a chat template (hayai's SFT writes the one its
    /// data was rendered in; PEFT/TRL save the tokenizer's) is chatted with in that template, not the base's.
    /// A pretraining checkpoint (hayai's, with its trainer_state.json) is a base model: it continues
    /// plain text whatever chat template its tokenizer folder carries (the tokenizer trainer writes
    /// one for the instruct model to come).
    public static func detect(model: Model, library: TemplateLibrary) -> TemplateDetection {
        if let adapter = model.adapterPath, let source = checkpointTemplate(path: adapter), !source.isEmpty {
            return detect(source: source, library: library, origin: .adapter)
        }
        if isPretrainingCheckpoint(path: model.path) {
            return TemplateDetection(template: library.templates["plain"] ?? .plain, defaultSystem: nil, matched: false,
                                     notice: "a base model (pretraining checkpoint): plain completion (choose a format with /template NAME)")
        }
        let source = (model.sources.first as? GGUFFile)?.string("tokenizer.chat_template") ?? checkpointTemplate(path: model.path)
        return detect(source: source, library: library)
    }

    /// Whether `path` is a folder written by pretraining (it holds trainer_state.json).
    public static func isPretrainingCheckpoint(path: String) -> Bool {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return false }
        return FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("trainer_state.json"))
    }
}
