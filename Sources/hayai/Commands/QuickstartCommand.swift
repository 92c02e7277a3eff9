// `hayai quickstart`: parses, runs Workbench's Quickstart (or QuickstartLoRA with --base), whose stages
// are the library calls the corpus, tokenizer, train, eval and compare commands make, then offers the
// chat that compares the two models.
import ArgumentParser
import Foundation
import Inference
import Kernels
import RunStore
import Workbench

struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Train a base and an instruct model on the bundled data (or LoRA-tune a model you have: --base), evaluate and compare them, then chat.",
        discussion: """
            Works in WORKSPACE/quickstart (WORKSPACE: --home, $HAYAI_HOME or ./hayai-runs). The corpus comes from \
            Debian packages (downloaded once into ~/.cache/hayai), the instructions from data/sft and, when \
            $HAYAI_DATA holds JGLUE (jglue/jcommonsenseqa/train-v1.3.json), from JCommonsenseQA's train split. \
            About 15 minutes on 2 cores with the defaults; --minutes sets the pretraining budget.

            With --base MODEL (a Hugging Face folder or a GGUF file, e.g. SmolLM2-135M-Instruct from \
            scripts/fetch-smollm2) it skips pretraining: LoRA-tunes MODEL on the same instructions within \
            --minutes, evaluates MODEL and MODEL + adapter on the instruction-format sets, compares them and \
            writes the report, in WORKSPACE/quickstart-lora/NAME.
            """)

    @Option(help: "LoRA-tune this model (Hugging Face folder or GGUF) instead of pretraining one.")
    var base: String?

    @Option(help: "With --base: the LoRA rank.")
    var loraRank = 8

    @Option(help: "Workspace (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(help: "Minutes of pretraining.")
    var minutes: Double = 5

    @Option(help: "Bytes of corpus text.")
    var maxBytes = 4_000_000

    @Option(help: "Tokenizer vocabulary size.")
    var vocabSize = 4096

    @Option(help: "Items per JCommonsenseQA evaluation (when $HAYAI_DATA has JGLUE).")
    var evalLimit = 300

    @Option(help: "SFT epochs.")
    var sftEpochs = 2

    @Option(help: "SFT optimizer steps (overrides --sft-epochs).")
    var sftSteps: Int?

    @Option(help: "Only these sources of the Debian corpus (repeatable; default: all).")
    var only: [String] = []

    @Flag(help: "Do not offer the chat at the end.")
    var noChat = false

    @Option(name: [.short, .long], help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    func validate() throws { try CLI.checkThreads(threads) }

    func run() throws {
        let runtime = RuntimeOptions(threads: threads)
        runtime.applyToBLAS()
        var request = QuickstartRequest(workspace: home.map { URL(fileURLWithPath: $0) } ?? RunStore.defaultWorkspace)
        request.minutes = minutes; request.maxBytes = maxBytes; request.vocabSize = vocabSize; request.evalLimit = evalLimit
        request.sftEpochs = sftEpochs; request.sftSteps = sftSteps; request.only = only; request.runtime = runtime
        let chatArguments: [String]
        do {
            chatArguments = try base.map { try QuickstartLoRA(model: $0, loraRank: loraRank, request: request).run() }
                ?? Quickstart(request).run()
        } catch let stopped as EvalInterrupted {
            CLI.printError("\n\(stopped)")
            throw ExitCode(130)
        } catch is Interrupted {
            CLI.printError("quickstart stopped; run it again to continue where it stopped")
            throw ExitCode(130)
        }
        try Self.offerChat(chatArguments, noChat: noChat)
    }

    /// Prints `hayai chat ARGS` and, at a terminal, offers to start it.
    static func offerChat(_ args: [String], noChat: Bool) throws {
        print("chat with both: hayai chat " + args.joined(separator: " "))
        if !noChat && isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0 {
            print("Start that chat now? [Y/n] ", terminator: "")
            fflush(stdout)
            let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? "n"
            if answer.isEmpty || answer.hasPrefix("y") { try ChatCommand.parse(args).run() }
        }
    }
}
