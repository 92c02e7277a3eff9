// `hayai train sft`: supervised fine-tuning of a base checkpoint on instruction data, rendered with a
// chat format from prompts/, loss on the responses only, into an instruct checkpoint that carries its
// chat template.
import ArgumentParser
import Foundation
import Inference
import Chat
import RunStore
import Tokenizers
import Inference
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

    @Option(help: "Tokens per packed row (default: the base's context).")
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

    @Flag(help: "Skip malformed lines of the data files (counted) instead of stopping.")
    var skipBadLines = false

    func validate() throws {
        try CLI.checkThreads(threads)
        guard !data.isEmpty || jcommonsenseqa != nil || corpusPairs != nil else {
            throw ValidationError("give instruction data: --data FILE.jsonl (repeatable), --jcommonsenseqa TRAIN or --corpus-pairs CORPUS")
        }
        guard epochs > 0, lr > 0, batchSize > 0 else { throw ValidationError("--epochs, --lr and --batch-size must be positive") }
        if let minutes, !(minutes > 0) { throw ValidationError("--minutes must be positive") }
    }

    func run() throws {
        for (name, given) in [("--lora-alpha", loraAlpha != nil), ("--lora-dropout", loraDropout != nil)] where given && loraRank == nil {
            throw UserError("\(name) needs --lora-rank")
        }
        RuntimeOptions(threads: threads).applyToBLAS()
        let library = TemplateLibrary.standard()
        let format = try library.template(named: template)
        let baseCheckpoint = try BaseCheckpoint(path: base)
        let tokenizer = try baseCheckpoint.tokenizer()
        guard let eos = tokenizer.eosTokenIDs.first, let eosText = tokenizer.tokenString(eos) else {
            throw UserError("\(base): the tokenizer names no end-of-sequence token")
        }
        try Self.checkSpecialTokens(of: format, in: tokenizer, base: base)

        var records: [InstructionRecord] = []
        for file in data {
            let (loaded, report) = try InstructionData.load(path: file, skipBadLines: skipBadLines)
            records += loaded
            if !report.skipped.isEmpty { CLI.printError("\(file): skipped \(report.skipped.count) bad lines (first: \(report.skipped[0]))") }
        }
        if let jcommonsenseqa {
            guard let sft = Repository.folder("data").map({ ($0 as NSString).appendingPathComponent("sft/jcommonsenseqa-instruction.txt") }),
                  FileManager.default.fileExists(atPath: sft) else {
                throw UserError("data/sft/jcommonsenseqa-instruction.txt not found: run from the repository")
            }
            records += try InstructionData.jcommonsenseqa(trainFile: jcommonsenseqa, instruction: try CLI.readText(file: sft), limit: jcommonsenseqaLimit)
        }
        if let corpusPairs { records += try InstructionData.corpusPairs(corpus: corpusPairs, limit: corpusPairsLimit) }
        let sequences = records.map { SFTPacking.tokenize(Self.example($0, format: format, eos: eosText), tokenizer: tokenizer) }

        var config = SFTConfig()
        config.epochs = epochs; config.steps = steps; config.lr = lr; config.minLR = lr / 10
        config.microBatchSize = batchSize; config.contextLength = seqLen; config.seed = seed
        config.timeLimitSeconds = minutes.map { $0 * 60 }
        if let loraRank { config.lora = try LoRASettings.parse(rank: loraRank, alpha: loraAlpha, dropout: loraDropout ?? 0, targets: loraTargets, base: baseCheckpoint) }
        let pad = tokenizer.tokenID("<|padding|>") ?? eos
        let training = try SFTRun(base: baseCheckpoint, sequences: sequences, padToken: pad, config: config)
        let r = training.report
        print("sft: \(records.count) examples (\(r.truncated) cut to fit a row, \(r.skipped) without a response left), "
              + "\(r.packedRows) packed rows, \(r.trainedTokens) of \(r.totalTokens) tokens trained on; "
              + "format \(format.name); \(training.plannedSteps) steps")
        print("sft: \(training.memory)")

        let store = try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
        var runConfig: [String: String] = ["base": base, "template": format.name, "epochs": "\(epochs)", "lr": "\(lr)",
                                           "examples": "\(records.count)", "data": data.joined(separator: ",")]
        if let jcommonsenseqa { runConfig["jcommonsenseqa"] = jcommonsenseqa }
        if let corpusPairs { runConfig["corpus_pairs"] = corpusPairs }
        if let lora = config.lora {
            runConfig["lora_rank"] = "\(lora.rank)"; runConfig["lora_alpha"] = "\(lora.alpha)"; runConfig["lora_dropout"] = "\(lora.dropout)"
            runConfig["lora_targets"] = lora.targets.map(\.rawValue).joined(separator: ",")
        }
        let baseRun = try? store.runs(kind: .pretrain).first { URL(fileURLWithPath: $0.model ?? "").standardizedFileURL == URL(fileURLWithPath: base).standardizedFileURL }
        let runName = try name ?? QuickstartCommand.unusedRunName("sft", in: store)
        let outDir = out ?? store.workspace.appendingPathComponent("checkpoints").appendingPathComponent(runName).path
        runConfig["base_hash"] = try ModelIdentity.contentHash(path: base)
        let recorder = try RunRecorder.create(store: store, kind: .sft, name: runName, model: URL(fileURLWithPath: outDir).standardizedFileURL.path,
                                              config: runConfig, parent: baseRun?.name)
        let stop = StopRequest()
        stop.install()
        defer { stop.uninstall() }
        let progress = ProgressLine(label: "sft", total: training.plannedSteps, isTerminal: ProgressLine.standardOutputIsTerminal,
                                    plainEverySteps: max(1, training.plannedSteps / 10), write: ProgressLine.writeStandardOutput)
        do {
            try recorder.recording {
            if let v = try training.validationLoss() {
                try recorder.log(step: 0, tokens: 0, metrics: ["val/loss": v])
                progress.message("step 0: val loss \(String(format: "%.4f", v))")
            }
            var tokens = 0
            let done = try training.run(onStep: { p in
                tokens += config.microBatchSize * config.gradAccumulation * (seqLen ?? training.parameters.config.maxPositions)
                try recorder.log(step: p.step, tokens: tokens, metrics: [
                    "train/loss": Double(p.loss), "lr": p.learningRate, "grad_norm": Double(p.gradientNorm), "tokens_per_second": p.tokensPerSecond])
                progress.update(step: p.step, loss: Double(p.loss), tokensPerSecond: p.tokensPerSecond,
                                extra: [("epoch", "\(p.epoch)"), ("lr", String(format: "%.2e", p.learningRate))])
            }, shouldStop: { stop.isRequested })
            progress.finish()
            var summary: [String: Double] = ["steps": Double(done)]
            if let v = try training.validationLoss() {
                try recorder.log(step: done, tokens: tokens, metrics: ["val/loss": v])
                summary["val/loss"] = v
                print("step \(done): val loss \(String(format: "%.4f", v))")
            }
            try training.save(to: outDir, chatTemplate: format.jinjaSource, templateName: format.name)
            let run = try recorder.finish(stop.isRequested ? .interrupted : .completed, summary: summary)
            if config.lora != nil {
                print("LoRA adapter in \(outDir) (run \(run.name)); try: hayai chat \(base) --adapter \(outDir)")
            } else {
                print("instruct model in \(outDir) (run \(run.name)); try: hayai chat \(outDir)")
            }
            }
        } catch {
            progress.finish()
            throw error
        }
    }

    /// An instruction record rendered with a chat format: what the model reads, and the answers
    /// (each followed by the end-of-text token) it is trained to write.
    static func example(_ record: InstructionRecord, format: ChatTemplate, eos: String) -> SFTExample {
        let turns = record.turns.map { Turn(user: $0.user, input: $0.input.isEmpty ? nil : $0.input, assistant: $0.assistant) }
        let system = record.system ?? format.systemDefault
        var segments: [SFTExample.Segment] = []
        for piece in format.segments(system: system, turns: turns, addGenerationPrompt: false) {
            segments.append(.init(piece.text, trained: piece.isAnswer))
            if piece.isAnswer { segments.append(.init(eos, trained: true)) }
        }
        return SFTExample(segments: segments, source: record.source)
    }

    /// A format written with special tokens (`<|im_start|>`) needs them in the vocabulary, or they
    /// would be trained as plain text.
    static func checkSpecialTokens(of format: ChatTemplate, in tokenizer: Tokenizer, base: String) throws {
        let markup = [format.systemPrefix, format.systemSuffix, format.userPrefix, format.userSuffix, format.assistantPrefix,
                      format.assistantSuffix].joined(separator: " ")
        let pattern = try NSRegularExpression(pattern: "<\\|[a-z_]+\\|>|\\[INST\\]|<s>|</s>")
        let range = NSRange(markup.startIndex..., in: markup)
        for match in pattern.matches(in: markup, range: range) {
            let token = String(markup[Range(match.range, in: markup)!])
            if token.hasPrefix("<|"), tokenizer.tokenID(token) == nil {
                throw UserError("\(base): the tokenizer has no special token \(token), which the \(format.name) format needs (choose another --template)")
            }
        }
    }
}
