// `hayai train pretrain`: train a StableLM-style base model from scratch on a corpus folder or a text
// file, with a live progress line, validation loss and bits-per-byte, every metric in the run store,
// and checkpoints in Hugging Face layout (OUT/step-N while training, OUT itself at the end).
import ArgumentParser
import Foundation
import Inference
import Kernels
import RunStore
import Training
import Workbench

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train models: pretrain a base model from scratch, then fine-tune it on instructions.",
        subcommands: [PretrainCommand.self, SFTCommand.self]
    )
}

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain a StableLM-style base model on the CPU.",
        discussion: """
            --config is a preset (\(Presets.names.joined(separator: ", "))) or a JSON file of overrides on one, with \
            Hugging Face's names for the model and nanoGPT's for the run, for example
              {"preset": "tiny", "hidden_size": 128, "num_hidden_layers": 4, "context_length": 128,
               "micro_batch_size": 16, "grad_accumulation": 1, "steps": 500, "lr": 0.003, "min_lr": 0.0003,
               "warmup_steps": 50, "eval_interval": 100, "checkpoint_interval": 250, "seed": 1337}
            The vocabulary size comes from the tokenizer.

            Data is a corpus folder from `hayai data build` (tokens/train_*.bin, val_*.bin and its tokenizer), \
            or a UTF-8 text file with --tokenizer: documents are blocks separated by blank lines, the last 5% \
            of the tokens are held out for validation, and lines that are not valid UTF-8 are skipped with a \
            warning that gives their line numbers.

            Checkpoints go to OUT/step-N every checkpoint_interval steps and to OUT itself at the end (default \
            OUT: WORKSPACE/checkpoints/RUN). Each holds config.json, model.safetensors, the tokenizer files, \
            optimizer.safetensors and trainer_state.json; --resume continues from the newest exactly. \
            Ctrl-C stops after saving a checkpoint (a second Ctrl-C quits at once; the last checkpoint is whole). \
            Metrics (train/loss, val/loss, val/bpb, lr, grad_norm, tokens_per_second, mfu) go to the run store.

            --profile times every op of each step after the first (one clock read at each op's start and end;             without it none) and prints the mean per step at the end: the ops' times add up to the step.
            """)

    @Option(help: ArgumentHelp("A preset (\(Presets.names.joined(separator: ", "))) or a JSON config file.", valueName: "file|preset"))
    var config: String?

    @Option(help: ArgumentHelp("A corpus folder from `hayai data build`.", valueName: "corpus-dir"))
    var data: String?

    @Option(help: ArgumentHelp("Train on a UTF-8 text file (needs --tokenizer).", valueName: "file"))
    var text: String?

    @Option(help: ArgumentHelp("Folder with tokenizer.json (default for --data: the corpus's own).", valueName: "dir"))
    var tokenizer: String?

    @Option(name: .customLong("init"), help: ArgumentHelp("Continue pretraining this checkpoint (a Hugging Face folder or .gguf): its weights, shape and tokenizer; --config then gives the training settings.", valueName: "model"))
    var initModel: String?

    @Option(help: "Train this many steps (overrides the config).")
    var steps: Int?

    @Option(help: "Train for this many minutes; the step count is planned from the measured step time.")
    var minutes: Double?

    @Option(help: ArgumentHelp("Checkpoint folder (default: WORKSPACE/checkpoints/RUN).", valueName: "dir"))
    var out: String?

    @Flag(help: "Continue from the newest checkpoint in --out (or the run's default folder).")
    var resume = false

    @Option(help: "Name of the run in the run store (default: pretrain-DATE-TIME).")
    var name: String?

    @OptionGroup var workspace: WorkspaceOptions

    @Option(name: [.short, .long], help: "Threads for matrix products (default: all cores).")
    var threads: Int?

    @Option(help: "Seed for initialisation and data order (overrides the config).")
    var seed: UInt64?

    @Option(help: ArgumentHelp("Matmul arithmetic: f32 (default: the config's precision, else f32), or bf16 (AVX512-BF16: inputs rounded to bf16, f32 sums; weights, gradients and AdamW stay f32).",
                               valueName: "f32|bf16"))
    var precision: String?

    @Flag(help: "Print where a step's time goes at the end: each op's ms a step (matmuls by role, forward / backward dX / dW, attention, norms, RoPE, cross-entropy, AdamW, clipping, data), its share and GFLOP/s.")
    var profile = false

    func validate() throws {
        guard (data != nil) != (text != nil) else { throw ValidationError("give exactly one of --data CORPUS_DIR or --text FILE") }
        if text != nil && tokenizer == nil && initModel == nil { throw ValidationError("--text needs --tokenizer DIR (a folder with tokenizer.json)") }
        if steps != nil && minutes != nil { throw ValidationError("give --steps or --minutes, not both") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let minutes, !(minutes > 0) { throw ValidationError("--minutes must be positive") }
        try CLI.checkThreads(threads)
        if config == nil && !resume { throw ValidationError("give --config PRESET|FILE (presets: \(Presets.names.joined(separator: ", ")))") }
        if resume && out == nil && name == nil { throw ValidationError("--resume needs --out DIR or --name RUN to find the checkpoint") }
    }

    func run() throws {
        RuntimeOptions(threads: threads).applyToBLAS()
        var request = PretrainRequest(workspace: workspace.home.map { URL(fileURLWithPath: $0) } ?? RunStore.defaultWorkspace)
        request.config = config
        request.corpus = data; request.text = text; request.tokenizer = tokenizer; request.initModel = initModel
        request.steps = steps; request.minutes = minutes; request.out = out; request.resume = resume; request.name = name
        request.threads = threads; request.seed = seed
        request.precision = try precision.map(GEMMPrecision.init(parsing:))
        request.checkpointFault = Self.faultFromEnvironment()
        request.profile = profile
        let job = try PretrainJob(request)
        for warning in job.warnings { CLI.printError("warning: \(warning)") }
        let (outcome, lines) = try job.runShowingProgress()
        for line in lines { print(line) }
        if case .interrupted = outcome { throw ExitCode(130) }
    }

    /// HAYAI_FAULT_CHECKPOINT_WRITE=N makes the N-th checkpoint write fail as a full disk would, after
    /// its model file is written (for tests of "nothing saved is lost").
    static func faultFromEnvironment() -> ((String, String) throws -> Void)? {
        guard let value = ProcessInfo.processInfo.environment["HAYAI_FAULT_CHECKPOINT_WRITE"], let n = Int(value), n > 0 else { return nil }
        var seen = 0
        return { checkpoint, file in
            guard file == "model.safetensors" else { return }
            seen += 1
            if seen == n { throw UserError("\(checkpoint): cannot write the checkpoint: No space left on device (simulated)") }
        }
    }
}
