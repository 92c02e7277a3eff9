// The chat REPL and its scripted mode: reads messages, sends each to one model (or to a base and an
// instruct model with --compare), streams the answers, and runs the slash commands.
import Chat
import Foundation
import Inference
import Kernels
import Workbench

/// One model in the chat, with its own conversation and KV cache.
final class Participant {
    var label: String
    var path: String
    let chat: ChatSession
    /// What detection found in the checkpoint, so /template can return to it with its default system message.
    var detected: TemplateDetection?

    init(label: String, path: String, chat: ChatSession) {
        self.label = label; self.path = path; self.chat = chat
    }
}

struct ChatAppOptions {
    var interactive: Bool
    var json: Bool
    var runtime: RuntimeOptions
    /// --template: one format for every model, or with --compare one per side (base, instruct).
    var templateOverrides: [String] = []

    /// The format --template chose for the model at `position` (0: the only or the base one).
    func templateOverride(at position: Int) -> String? {
        templateOverrides.count > 1 ? templateOverrides[min(position, templateOverrides.count - 1)] : templateOverrides.first
    }
}

final class ChatApp {
    let library: TemplateLibrary
    var participants: [Participant] = []
    let options: ChatAppOptions
    let input: LineInput
    private let colors: Bool
    private var turn = 0
    /// Messages or commands that failed (scripted mode exits non-zero when any did).
    private(set) var failures = 0
    private var assembler = MessageAssembler()

    init(library: TemplateLibrary, options: ChatAppOptions, input: LineInput) {
        self.library = library
        self.options = options
        self.input = input
        colors = options.interactive && isatty(STDOUT_FILENO) != 0
    }

    // MARK: - Output

    func dim(_ s: String) -> String { colors ? "\u{1B}[2m\(s)\u{1B}[0m" : s }

    /// A notice: on the terminal dimmed, in scripted mode on standard error.
    func notice(_ s: String) {
        if options.interactive { CLI.write(dim(s) + "\n") } else { CLI.printError(s) }
    }

    /// Command output (/help, /show): on standard error in scripted mode, where stdout holds only answers.
    func say(_ s: String) {
        if options.interactive { CLI.write(s) } else { FileHandle.standardError.write(Data(s.utf8)) }
    }

    func error(_ s: String) {
        failures += 1
        if options.interactive { CLI.write((colors ? "\u{1B}[31mError:\u{1B}[0m " : "Error: ") + s + "\n") } else { CLI.printError("Error: " + s) }
    }

    // MARK: - Models

    /// Loads a model and chooses its chat format (the --template override, else detection).
    func makeSession(path: String, label: String, settings: ChatSettings, system: String?, adapter: String? = nil) throws -> Participant {
        let model = try LocalLanguageModel(path: path, adapter: adapter, runtime: options.runtime)
        let detection = TemplateDetection.detect(model: model.model, library: library)
        let (template, checkpointSystem) = try chooseTemplate(detection, label: label, modelName: model.name,
                                                              override: options.templateOverride(at: participants.count))
        let chat = ChatSession(model: model, template: template, checkpointSystem: checkpointSystem, settings: settings)
        chat.conversation.system = system
        let p = Participant(label: label, path: path, chat: chat)
        p.detected = detection
        return p
    }

    private func chooseTemplate(_ detection: TemplateDetection, label: String, modelName: String,
                                override: String?) throws -> (ChatTemplate, String?) {
        let prefix = participants.count > 1 || label != modelName ? "\(label): " : ""
        if let name = override {
            let t = try library.template(named: name)
            notice("\(prefix)chat template: \(t.name) (chosen with --template)")
            return (t, detection.matched && detection.template.name == t.name ? detection.defaultSystem : nil)
        }
        notice(prefix + detection.notice)
        return (detection.template, detection.defaultSystem)
    }

    // MARK: - The loop

    /// Runs until /quit, end of input or a second Ctrl-C. Returns the exit status.
    func run() -> Int32 {
        var lastWasInterrupt = false
        while true {
            let prompt = assembler.isContinuing ? "... " : ">>> "
            switch input.read(prompt: prompt) {
            case .end:
                if options.interactive { CLI.write("\n") }
                return failures > 0 && !options.interactive ? 1 : 0
            case .interrupted:
                if assembler.isContinuing {
                    assembler.reset()
                    CLI.write("\n")
                    lastWasInterrupt = false
                    continue
                }
                if lastWasInterrupt { CLI.write("\n"); return 0 }
                CLI.write("\n" + dim("(Ctrl-C again or Ctrl-D to quit)") + "\n")
                lastWasInterrupt = true
            case .invalidUTF8(let n):
                assembler.reset()
                error("line \(n) of the input is not valid UTF-8: skipped")
            case .line(let line):
                lastWasInterrupt = false
                guard let message = assembler.feed(line) else { continue }
                if message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { continue }
                input.remember(message)
                if message.hasPrefix("/") && !message.hasPrefix("//") {
                    if !command(message) { return failures > 0 && !options.interactive ? 1 : 0 }
                } else {
                    send(message.hasPrefix("//") ? String(message.dropFirst()) : message)
                }
            }
        }
    }

    // MARK: - Turns

    func send(_ message: String) {
        turn += 1
        for p in participants {
            run(p, message: message) { try p.chat.send(message, onText: $0) }
        }
    }

    private func retry() {
        for p in participants {
            guard let last = p.chat.conversation.turns.last, last.assistant != nil else {
                error("nothing to retry: no answer yet")
                return
            }
            run(p, message: last.user) { try p.chat.retry(onText: $0) }
        }
    }

    private func run(_ p: Participant, message: String, _ body: ((String) -> Bool) throws -> TurnResult) {
        let labelled = participants.count > 1
        if labelled && !options.json {
            if options.interactive { CLI.write((colors ? "\u{1B}[1m[\(p.label)]\u{1B}[0m" : "[\(p.label)]") + "\n") }
            else { CLI.write("[\(p.label)]\n") }
        }
        let streams = !options.json
        var endsWithNewline = true
        // Ctrl-C from here on stops this answer (the forward pass polls the flag); the flag is down
        // again before the next prompt.
        Interrupt.clear()
        defer { Interrupt.clear() }
        do {
            let result = try body { piece in
                if streams && !piece.isEmpty {
                    CLI.write(piece)
                    endsWithNewline = piece.hasSuffix("\n")
                }
                return true
            }
            if streams && !endsWithNewline { CLI.write("\n") }
            if streams && result.answer.isEmpty && options.interactive { notice("(empty answer)") }
            if result.droppedTurns > 0 {
                notice("(context full: dropped the \(result.droppedTurns) oldest turn\(result.droppedTurns == 1 ? "" : "s"); the system prompt stays)")
            }
            if result.generation.stopReason == .interrupted {
                notice(result.generation.generatedTokens.isEmpty ? "(interrupted before the answer began: the message was not kept)"
                                                                  : "(interrupted: the partial answer stays in the conversation)")
            }
            if options.json {
                print(jsonLine(p, message: message, result))
            } else if options.interactive {
                CLI.write(dim(stats(result)) + "\n")
            }
        } catch {
            if streams && !endsWithNewline { CLI.write("\n") }
            self.error("\(error)")
        }
    }

    func stats(_ r: TurnResult) -> String {
        let g = r.generation
        return "prompt: \(g.promptTokensEvaluated) new / \(g.promptTokens) tokens · generated: \(g.generatedTokens.count) tokens, "
            + "\(CLI.fixed(g.tokensPerSecond)) tokens/s · first token: \(CLI.fixed(g.timeToFirstToken, 2)) s · "
            + "context: \(r.contextUsed)/\(r.contextSize) · stop: \(g.stopReason.rawValue)"
    }

    private func jsonLine(_ p: Participant, message: String, _ r: TurnResult) -> String {
        let g = r.generation
        return "{\"turn\":\(turn),\"model\":\(JSON.string(p.label)),\"user\":\(JSON.string(message)),"
            + "\"assistant\":\(JSON.string(r.answer)),\"stop_reason\":\"\(g.stopReason.rawValue)\","
            + "\"prompt_tokens\":\(g.promptTokens),\"prompt_tokens_evaluated\":\(g.promptTokensEvaluated),"
            + "\"generated_tokens\":\(g.generatedTokens.count),\"tokens_per_second\":\(JSON.number(g.tokensPerSecond)),"
            + "\"time_to_first_token\":\(JSON.number(g.timeToFirstToken)),\"context_used\":\(r.contextUsed),"
            + "\"context_size\":\(r.contextSize),\"dropped_turns\":\(r.droppedTurns)}"
    }

    // MARK: - Slash commands

    static let help = """
        /help                   this list
        /system TEXT            set the system prompt (/system with no text: the default; /system "" : none)
        /set NAME VALUE         temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, max_tokens, seed
        /show                   model, chat template, system prompt, settings, context
        /template NAME          switch the chat format (/template lists them)
        /reset                  forget the conversation (keeps system prompt and settings)
        /undo                   remove the last exchange
        /retry                  answer the last message again
        /save NAME              save conversation and settings (HAYAI_HOME/chats/NAME.json, or a path)
        /load NAME              load a saved conversation and recompute the cache
        /model PATH             switch to another model (the conversation stays)
        /quit                   leave (also Ctrl-D, or Ctrl-C twice)
        Input: end a line with \\ to continue it; \"\"\" opens and closes a multi-line block;
        start a message with // to send a text that begins with /.
        """

    /// Runs a slash command; returns false to quit.
    func command(_ line: String) -> Bool {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        let name = String(trimmed.prefix { !$0.isWhitespace })
        let argument = String(trimmed.dropFirst(name.count)).trimmingCharacters(in: .whitespaces)
        switch name {
        case "/help", "/?": say(Self.help + "\n")
        case "/quit", "/exit", "/bye": return false
        case "/system":
            let system: String? = argument.isEmpty ? nil : (argument == "\"\"" ? "" : argument)
            for p in participants { p.chat.conversation.system = system }
            notice(system == nil ? "system prompt: the default" : system == "" ? "system prompt: none" : "system prompt set")
        case "/set": set(argument)
        case "/show": show()
        case "/template": template(argument)
        case "/reset":
            for p in participants { p.chat.reset() }
            notice("conversation cleared")
        case "/undo":
            var removed = false
            for p in participants where p.chat.undo() != nil { removed = true }
            notice(removed ? "removed the last exchange" : "nothing to undo")
        case "/retry": retry()
        case "/save": save(argument)
        case "/load": load(argument)
        case "/model": model(argument)
        default:
            error("unknown command \(name) (type /help for the list; start a message with // to send text that begins with /)")
        }
        return true
    }

    private func set(_ argument: String) {
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            error("usage: /set NAME VALUE (NAME: \(ChatSettings.names.joined(separator: ", ")))")
            return
        }
        do {
            for p in participants { try p.chat.settings.set(parts[0], to: parts[1].trimmingCharacters(in: .whitespaces)) }
            notice("\(parts[0]) = \(parts[1])")
        } catch {
            self.error("\(error)")
        }
    }

    private func show() {
        for p in participants {
            let c = p.chat
            var lines = ["model: \(p.path)" + (participants.count > 1 ? " [\(p.label)]" : ""),
                         "chat template: \(c.template.name)"]
            let system = c.effectiveSystem.map { "\"\($0)\"" } ?? "none"
            lines.append("system prompt: \(system)" + (c.conversation.system == nil && c.effectiveSystem != nil ? " (default)" : ""))
            lines.append("settings: " + c.settings.summary.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
            lines.append("turns: \(c.conversation.turns.count) · context: \(c.contextUsed)/\(c.contextSize)")
            if let local = c.model as? LocalLanguageModel {
                lines.append("runtime: \(local.session.pool.threads) threads (BLAS \(BLAS.threads)) · KV cache \(local.session.kvType.rawValue)")
            }
            say(lines.joined(separator: "\n") + "\n")
        }
    }

    private func template(_ name: String) {
        guard !name.isEmpty else {
            for n in library.names {
                let t = library.templates[n]!
                say("\(n)\(participants.contains { $0.chat.template.name == n } ? " *" : "")  \(dim(t.description ?? ""))\n")
            }
            return
        }
        do {
            let t = try library.template(named: name)
            for p in participants {
                p.chat.template = t
                p.chat.checkpointSystem = p.detected.flatMap { $0.matched && $0.template.name == t.name ? $0.defaultSystem : nil }
            }
            notice("chat template: \(t.name)")
        } catch {
            self.error("\(error)")
        }
    }

    /// WORKSPACE/chats/NAME.json (Workspace: $HAYAI_HOME or ./hayai-runs), or NAME itself when it is a path.
    static func savedChatURL(_ name: String) -> URL {
        if name.contains("/") || name.hasSuffix(".json") { return URL(fileURLWithPath: name) }
        return URL(fileURLWithPath: Workspace.path("chats/\(name).json"))
    }

    private func save(_ name: String) {
        guard !name.isEmpty else { error("usage: /save NAME"); return }
        let p = participants[0]
        let url = Self.savedChatURL(name)
        do {
            try SavedChat(model: p.path, template: p.chat.template.name, conversation: p.chat.conversation, settings: p.chat.settings).write(to: url)
            notice("saved \(p.chat.conversation.turns.count) turns to \(url.path)")
        } catch {
            self.error("\(url.path): cannot save (\(error.localizedDescription))")
        }
    }

    private func load(_ name: String) {
        guard !name.isEmpty else { error("usage: /load NAME"); return }
        let saved: SavedChat
        do { saved = try SavedChat.read(from: Self.savedChatURL(name)) } catch {
            self.error("\(error) (the current conversation stays)")
            return
        }
        for p in participants {
            let before = (p.chat.conversation, p.chat.settings, p.chat.template)
            p.chat.conversation = saved.conversation
            p.chat.settings = saved.settings
            if let t = library.templates[saved.template] { p.chat.template = t }
            do {
                let dropped = try p.chat.recomputeCache()
                if dropped > 0 { notice("(context full: dropped the \(dropped) oldest turns)") }
            } catch {
                (p.chat.conversation, p.chat.settings, p.chat.template) = before
                self.error("\(error) (the current conversation stays)")
                return
            }
        }
        var line = "loaded \(saved.conversation.turns.count) turns (chat template \(participants[0].chat.template.name))"
        if let m = saved.model, m != participants[0].path, participants.count == 1 { line += "; saved with \(m)" }
        notice(line)
        if options.interactive, let last = saved.conversation.turns.last {
            notice("last message: \(last.user)")
            if let a = last.assistant { CLI.write(a + "\n") }
        }
    }

    private func model(_ path: String) {
        guard !path.isEmpty else { error("usage: /model PATH"); return }
        guard participants.count == 1 else { error("/model is not available with --compare"); return }
        let p = participants[0]
        do {
            let model = try LocalLanguageModel(path: path, runtime: options.runtime)
            let detection = TemplateDetection.detect(model: model.model, library: library)
            let (template, system) = try chooseTemplate(detection, label: model.name, modelName: model.name,
                                                        override: options.templateOverride(at: 0))
            p.chat.replaceModel(model, template: template, checkpointSystem: system)
            p.detected = detection
            p.path = path
            p.label = model.name
            notice("model: \(path) (the conversation stays; its cache is computed on the next turn)")
        } catch {
            self.error("\(error) (the current model stays)")
        }
    }
}
