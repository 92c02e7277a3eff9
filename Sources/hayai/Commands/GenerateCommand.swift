// `hayai generate`: complete a prompt, streaming the text, then a stats line.
import ArgumentParser
import Foundation
import Inference
import Kernels

extension KVStorage: ExpressibleByArgument {}

struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature; 0 is greedy.")
    var temperature: Float = 0.8
    @Option(help: "Keep the k most likely tokens (0: all).")
    var topK: Int = 40
    @Option(help: "Nucleus sampling threshold (1: off).")
    var topP: Float = 0.95
    @Option(help: "Drop tokens below this fraction of the top probability (0: off).")
    var minP: Float = 0.05
    @Option(help: "Repetition penalty over the last --repeat-last-n tokens (1: off).")
    var repeatPenalty: Float = 1.0
    @Option(help: "Tokens the repetition penalty looks back over.")
    var repeatLastN: Int = 64
    @Option(help: "Random seed (the same seed gives the same text).")
    var seed: UInt64 = 42

    var parameters: SamplingParameters {
        var p = SamplingParameters()
        p.temperature = temperature; p.topK = topK; p.topP = topP; p.minP = minP
        p.repetitionPenalty = repeatPenalty; p.repeatLastN = repeatLastN; p.seed = seed
        return p
    }

    func validate() throws {
        do { try parameters.validate() } catch { throw ValidationError("\(error)") }
    }
}

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Complete a prompt.",
        discussion: """
            Streams the completion to standard output and ends with a stats line on standard error \
            (prompt and generation tokens/s). With --json, prints one JSON object instead.
            """)

    @OptionGroup var options: ModelOptions

    @Option(name: [.short, .customLong("prompt")], help: "The prompt text.")
    var prompt: String?

    @Option(name: .customLong("file"), help: "Read the prompt from a UTF-8 file.")
    var promptFile: String?

    @Option(name: [.customShort("n"), .customLong("n-predict")], help: "Most tokens to generate.")
    var maxTokens: Int = 128

    @Option(name: .customLong("stop"), help: "Stop when the text contains this string (repeatable).")
    var stopStrings: [String] = []

    @Flag(help: "Keep going past end-of-sequence tokens.")
    var ignoreEOS = false

    @OptionGroup var sampling: SamplingOptions

    @Flag(help: "Print one JSON object: text, ids, stop reason, timings.")
    var json = false

    func validate() throws {
        guard (prompt != nil) != (promptFile != nil) else { throw ValidationError("give exactly one of -p PROMPT or --file PATH") }
        guard maxTokens >= 0 else { throw ValidationError("-n must be ≥ 0") }
    }

    func run() throws {
        let (model, tokenizer) = try CLI.loadModel(options.model, adapter: options.adapter)
        let session = try InferenceSession(model: model, runtime: options.runtime)
        // A prompt that cannot fit the context is refused before it is read whole or tokenized.
        let bound = PromptText.byteBound(contextLength: session.contextLength, tokenizer: tokenizer)
        let text = try promptFile.map { try CLI.readText(file: $0, data: PromptText.read(file: $0, maxBytes: bound)) } ?? prompt!
        let promptTokens = try PromptText.encode(text, source: promptFile ?? "-p", tokenizer: tokenizer, contextLength: session.contextLength)
        var opts = GenerationOptions()
        opts.maxTokens = maxTokens
        opts.sampling = sampling.parameters
        opts.stopStrings = stopStrings
        opts.stopAtEOS = !ignoreEOS
        let generator = Generator(session: session, tokenizer: tokenizer)
        // Ctrl-C ends the generation (stop: interrupted) with what was produced printed; exit status 130.
        Interrupt.installSIGINTHandler()
        let result = try generator.generate(promptTokens: promptTokens, options: opts) { piece in
            if !json { CLI.write(piece) }
            return true
        }
        if json {
            print("""
                {"prompt_ids":\(JSON.array(promptTokens)),"ids":\(JSON.array(result.generatedTokens)),\
                "text":\(JSON.string(result.text)),"stop_reason":"\(result.stopReason.rawValue)",\
                "prompt_tokens_per_second":\(JSON.number(result.promptTokensPerSecond)),\
                "tokens_per_second":\(JSON.number(result.tokensPerSecond))}
                """)
        } else {
            CLI.write("\n")
            CLI.printError("prompt: \(result.promptTokens) tokens, \(CLI.fixed(result.promptTokensPerSecond)) tokens/s | "
                           + "generated: \(result.generatedTokens.count) tokens, \(CLI.fixed(result.tokensPerSecond)) tokens/s | "
                           + "stop: \(result.stopReason.rawValue)")
        }
        if result.stopReason == .interrupted { throw ExitCode(130) }
    }
}
