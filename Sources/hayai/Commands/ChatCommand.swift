// `hayai chat [MODEL]`: talk to a model in a libedit REPL, or script a conversation through a pipe.
import ArgumentParser
import Chat
import Foundation
import Inference
import Kernels
import Serving

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model (REPL with history, multi-line input, streaming, slash commands).",
        discussion: """
            The chat format comes from the checkpoint's chat template (tokenizer_config.json or GGUF \
            metadata) matched to one of the formats in prompts/, or --template. The KV cache is kept \
            across turns, so a new turn computes only its own tokens. Type /help in the REPL.

            When standard input is not a terminal (or with --prompt-file), each line is a message \
            (lines starting with / are commands) and only the answers are printed; --json prints one \
            JSON object per turn. With --compare BASE INSTRUCT each message goes to both models.
            """)

    @Argument(help: "A Hugging Face model folder or a .gguf file.")
    var model: String?

    @Option(name: .customLong("compare"), parsing: .upToNextOption,
            help: ArgumentHelp("Send each message to two models, e.g. a base and an instruct model.", valueName: "BASE INSTRUCT"))
    var compare: [String] = []

    @Option(help: ArgumentHelp("Chat format from prompts/ (default: detected from the checkpoint; a pretraining checkpoint is plain). "
                               + "With --compare, give it twice for the base and the instruct side.", valueName: "name"))
    var template: [String] = []

    @Option(help: "System prompt (default: the checkpoint's or the format's).")
    var system: String?

    @Option(help: "Read messages from this UTF-8 file instead of standard input.")
    var promptFile: String?

    @Option(name: .customLong("load"), help: "Start from a saved chat (as /load NAME).")
    var loadName: String?

    @Flag(help: "Scripted mode: print one JSON object per turn.")
    var json = false

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Most tokens per answer.")
    var maxTokens: Int = 512

    @Option(help: ArgumentHelp("A PEFT LoRA adapter folder run beside MODEL's weights (with --compare: beside INSTRUCT's).", valueName: "dir"))
    var adapter: String?

    @OptionGroup var runtimeArguments: RuntimeArguments

    @OptionGroup var sampling: SamplingOptions

    @OptionGroup var endpoint: EndpointOptions

    func validate() throws {
        try endpoint.validate(model: model, adapter: adapter, runtime: runtimeArguments)
        if endpoint.url != nil {
            guard compare.isEmpty, template.isEmpty, loadName == nil, !json else {
                throw ValidationError("--compare, --template, --load and --json work on local models; with --endpoint the server applies its chat template")
            }
            guard maxTokens >= 1 else { throw ValidationError("-n must be ≥ 1") }
            guard sampling.repeatPenalty == 1 else { throw ValidationError("--repeat-penalty is not part of the OpenAI chat API: drop it with --endpoint") }
            return
        }
        if !compare.isEmpty {
            guard compare.count == 2 else { throw ValidationError("--compare takes two models: BASE INSTRUCT") }
            guard model == nil else { throw ValidationError("give either MODEL or --compare BASE INSTRUCT, not both") }
        } else if model == nil {
            throw ValidationError("give a model (a Hugging Face folder or a .gguf file), or --compare BASE INSTRUCT")
        }
        guard template.count <= (compare.isEmpty ? 1 : 2) else {
            throw ValidationError(compare.isEmpty ? "give --template once" : "give --template once for both models, or twice: base, then instruct")
        }
        guard maxTokens >= 1 else { throw ValidationError("-n must be ≥ 1") }
    }

    func run() throws {
        if let url = endpoint.url { return try runEndpoint(url) }
        let library = TemplateLibrary.standard()
        for problem in library.problems { CLI.printError("Warning: \(problem)") }
        for name in template { _ = try library.template(named: name) }

        let (input, scripted) = try messageInput()
        let options = ChatAppOptions(interactive: !scripted, json: json, runtime: runtimeArguments.runtime, templateOverrides: template)
        let app = ChatApp(library: library, options: options, input: input)

        let settings = ChatSettings(sampling: sampling.parameters, maxTokens: maxTokens)

        let models = compare.isEmpty ? [(model!, nil as String?)] : [(compare[0], "base"), (compare[1], "instruct")]
        for (i, (path, role)) in models.enumerated() {
            let name = (path as NSString).lastPathComponent
            let label = role.map { "\($0): \(name)" } ?? name
            let withAdapter = i == models.count - 1 ? adapter : nil
            app.participants.append(try app.makeSession(path: path, label: withAdapter.map { "\(label) + \(($0 as NSString).lastPathComponent)" } ?? label,
                                                        settings: settings, system: system, adapter: withAdapter))
        }
        if !scripted {
            let names = app.participants.map { "\($0.label) (context \($0.chat.contextSize))" }.joined(separator: " | ")
            CLI.write(app.dim("hayai chat · \(names) · /help for commands") + "\n")
        }
        if let loadName { _ = app.command("/load \(loadName)") }
        let status = app.run()
        if status != 0 { throw ExitCode(status) }
    }

    /// Where messages come from: --prompt-file, a pipe (scripted), or the terminal's line editor.
    private func messageInput() throws -> (LineInput, scripted: Bool) {
        if let promptFile {
            guard let handle = FileHandle(forReadingAtPath: promptFile) else { throw UserError("\(promptFile): cannot read the file") }
            return (StreamInput(handle: handle), true)
        }
        if isatty(STDIN_FILENO) == 0 { return (StreamInput(handle: FileHandle.standardInput), true) }
        return (TerminalInput(historyPath: TerminalInput.defaultHistoryPath), false)
    }

    /// The conversation with a served model: each line is a message (/reset forgets the turns, /quit ends),
    /// the answer streams in as the server sends it; Ctrl-C stops an answer and keeps what came.
    private func runEndpoint(_ url: String) throws {
        let p = sampling.parameters
        let chat = EndpointChat(endpoint: try EndpointModel(endpoint: url, model: endpoint.model), system: system, maxTokens: maxTokens,
                                temperature: Double(p.temperature), topP: Double(p.topP), topK: p.topK, minP: Double(p.minP), seed: p.seed)
        let (input, scripted) = try messageInput()
        if !scripted {
            CLI.write("hayai chat · \(chat.endpoint.model) at \(chat.endpoint.baseURL) · /reset, /quit\n")
        }
        Interrupt.installSIGINTHandler()
        var assembler = MessageAssembler(), failures = 0
        loop: while true {
            switch input.read(prompt: assembler.isContinuing ? "... " : ">>> ") {
            case .end: break loop
            case .interrupted: if !assembler.isContinuing { CLI.write("\n"); break loop }; assembler.reset()
            case .invalidUTF8(let n): assembler.reset(); failures += 1; CLI.printError("Error: line \(n) of the input is not valid UTF-8: skipped")
            case .line(let line):
                guard let message = assembler.feed(line), !message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { continue }
                input.remember(message)
                switch message.trimmingCharacters(in: .whitespaces) {
                case "/quit", "/exit": break loop
                case "/reset": chat.reset(); continue
                case let command where command.hasPrefix("/") && !command.hasPrefix("//"):
                    failures += 1
                    CLI.printError("Error: \(command.split(separator: " ")[0]) is not available with --endpoint (only /reset and /quit)")
                    continue
                default: break
                }
                Interrupt.clear()
                var endsWithNewline = true
                do {
                    try chat.send(message.hasPrefix("//") ? String(message.dropFirst()) : message) { piece in
                        CLI.write(piece)
                        endsWithNewline = piece.hasSuffix("\n")
                        return !Interrupt.isRequested
                    }
                } catch {
                    failures += 1
                    CLI.printError("Error: \(error)")
                }
                if !endsWithNewline { CLI.write("\n") }
            }
        }
        if scripted && failures > 0 { throw ExitCode(1) }
    }
}
