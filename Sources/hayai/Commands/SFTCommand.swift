// `hayai train sft`: supervised fine-tuning of a base checkpoint on instruction data, rendered with a
// chat format from prompts/, loss on the responses only, into an instruct checkpoint that carries its
// chat template.
import ArgumentParser
import Foundation
import Inference
import Kernels
import Chat
import RunStore
import Tokenizers
import Training
import Workbench

struct SFTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Fine-tune a base model on instructions (supervised fine-tuning).",
        discussion: """
            --data takes JSONL in Alpaca shape ({"instruction","input","output"}) or chat shape \
            ({"messages":[{"role","content"}]}); repeat it to mix files. --jcommonsenseqa adds templated items \
            from JCommonsenseQA's train split (never the validation split); --corpus-pairs adds definition pairs \
            from a corpus's Jargon File entries and Japanese manual pages. Examples are rendered with --template \
            (a format in prompts/: \(TemplateLibrary.standard().names.joined(separator: ", "))), followed by the \
            end-of-text token; only the answers are trained on, and short examples are packed into rows without \
            attention crossing them. Examples longer than a row are cut (counted). The instruct checkpoint's \
            tokenizer_config.json carries the chat template, so `hayai chat` detects the format.
            """)

    @Option(help: ArgumentHelp("The base checkpoint: a Hugging Face folder or a .gguf file (quantized weights are dequantized).", valueName: "model"))
    var base: String

    @Option(help: ArgumentHelp("Instruction data (JSONL, repeatable).", valueName: "file"))
    var data: [String] = []

    @Option(help: ArgumentHelp("JCommonsenseQA's train file (train-v1.3.json) to add as instructions.", valueName: "file"))
    var jcommonsenseqa: String?

    @Option(help: "At most this many JCommonsenseQA items.")
    var jcommonsenseqaLimit: Int?

    @Option(help: ArgumentHelp("A corpus folder from `hayai data build`: add definition pairs from its Jargon File entries and Japanese manual pages.", valueName: "dir"))
    var corpusPairs: String?

    @Option(help: "At most this many corpus definition pairs.")
    var corpusPairsLimit: Int?

    @Option(help: "Chat format from prompts/.")
    var template = "jslm-instruct"

    @Option(help: "Epochs over the data.")
    var epochs = 3

    @Option(help: "Optimizer steps (overrides --epochs).")
    var steps: Int?

    @Option(help: "Peak learning rate.")
    var lr = 1e-3

    @Option(help: "Rows per micro-batch.")
    var batchSize = 8

    @Option(help: "Train LoRA adapters of this rank beside the frozen base (which may stay quantized) instead of every weight; saves a PEFT adapter folder.")
    var loraRank: Int?

    @Option(help: "LoRA alpha: the update is scaled by alpha / rank (default: 2 × rank).")
    var loraAlpha: Double?

    @Option(help: "LoRA dropout: the rate at which the adapters' inputs are zeroed while training, as PEFT's lora_dropout (default 0).")
    var loraDropout: Double?

    @Option(help: "Comma-separated linear layers that get adapters: q,k,v,o,gate,up,down (qkv for fused projections).")
    var loraTargets = "q,k,v,o,gate,up,down"

    @Option(help: "Stop starting new steps after this many minutes (the adapter or model trained so far is saved).")
    var minutes: Double?

    @Option(help: "Tokens per packed row (default: \(SFTConfig.defaultContextLength), or the base's context when shorter).")
    var seqLen: Int?

    @Option(help: ArgumentHelp("Where the instruct checkpoint goes (default: WORKSPACE/checkpoints/RUN).", valueName: "dir"))
    var out: String?

    @Option(help: "Run name in the store.")
    var name: String?

    @Option(help: "Workspace holding hayai.sqlite (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(name: [.short, .long], help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    @Option(help: "Random seed (shuffling, validation split).")
    var seed: UInt64 = 1337

    @Option(help: ArgumentHelp("Matmul arithmetic: f32 (default), or bf16 (AVX512-BF16: inputs rounded to bf16, f32 sums; weights, gradients and AdamW stay f32).",
                               valueName: "f32|bf16"))
    var precision: String?

    @Flag(help: "Skip malformed lines of the data files (counted) instead of stopping.")
    var skipBadLines = false

    @Flag(help: "Print where a step's time goes at the end, op by op (as train pretrain --profile).")
    var profile = false

    func validate() throws {
        try CLI.checkThreads(threads)
        guard !data.isEmpty || jcommonsenseqa != nil || corpusPairs != nil else {
            throw ValidationError("give instruction data: --data FILE.jsonl (repeatable), --jcommonsenseqa TRAIN or --corpus-pairs CORPUS")
        }
        guard epochs > 0, lr > 0, batchSize > 0 else { throw ValidationError("--epochs, --lr and --batch-size must be positive") }
        if let minutes, !(minutes > 0) { throw ValidationError("--minutes must be positive") }
    }

    func run() throws {
        RuntimeOptions(threads: threads).applyToBLAS()
        var request = SFTRequest(base: base, workspace: Workspace.url(home: home))
        request.data = data
        request.jcommonsenseqa = jcommonsenseqa; request.jcommonsenseqaLimit = jcommonsenseqaLimit
        request.corpusPairs = corpusPairs; request.corpusPairsLimit = corpusPairsLimit
        request.template = template
        request.config.epochs = epochs; request.config.steps = steps; request.config.lr = lr; request.config.minLR = lr / 10
        request.config.microBatchSize = batchSize; request.config.contextLength = seqLen; request.config.seed = seed
        request.config.timeLimitSeconds = minutes.map { $0 * 60 }
        request.config.precision = try precision.map(GEMMPrecision.init(parsing:)) ?? .f32
        request.loraRank = loraRank; request.loraAlpha = loraAlpha; request.loraDropout = loraDropout; request.loraTargets = loraTargets
        request.out = out; request.name = name; request.skipBadLines = skipBadLines; request.profile = profile
        let job = try SFTJob(request)
        for warning in job.warnings { CLI.printError(warning) }
        for line in job.summary { print(line) }
        let line = try job.runShowingProgress().line
        for line in job.profileLines { print(line) }
        print(line)
    }
}
