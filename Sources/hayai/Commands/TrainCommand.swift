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
        let workspaceURL = workspace.home.map { URL(fileURLWithPath: $0) } ?? RunStore.defaultWorkspace
        let runName = try name ?? (resume ? nil : Self.generatedName(workspace: workspaceURL))
        let outDir = out ?? workspaceURL.appendingPathComponent("checkpoints").appendingPathComponent(runName!).path

        // Everything that can be wrong with the input is found before the run store is touched.
        var pretrainConfig: PretrainConfig
        let configSource: String
        if let config {
            pretrainConfig = try PretrainConfig.resolve(config)
            configSource = config
        } else {
            let latest = try PretrainCheckpoints.latest(outDir)
            pretrainConfig = latest.state.config
            configSource = (latest.folder as NSString).appendingPathComponent(PretrainState.fileName)
        }
        if let seed { pretrainConfig.seed = seed }
        try pretrainConfig.validate(path: configSource)
        let base = try initModel.map { try BaseCheckpoint(path: $0) }
        let tokenizerSource = tokenizer ?? initModel
        let corpus: PretrainData = try data.map { try PretrainData.corpus($0, tokenizerFolder: base?.tokenizerFolder ?? tokenizer) }
            ?? PretrainData.text(text!, tokenizerFolder: tokenizerSource!)
        for warning in corpus.warnings { CLI.printError("warning: \(warning)") }

        var options = PretrainOptions(out: outDir)
        options.resume = resume
        options.steps = steps
        options.minutes = minutes
        options.runName = runName
        options.initFrom = base
        let stop = StopRequest()
        options.shouldStop = { stop.isRequested }
        options.checkpointFault = Self.faultFromEnvironment()
        let training = try PretrainRun(config: pretrainConfig, data: corpus, options: options, configSource: configSource)

        let store = try RunStore.open(workspace: workspaceURL)
        let trainRun = try TrainRun(training: training, store: store, model: URL(fileURLWithPath: outDir).standardizedFileURL.path)
        let run = trainRun.run
        let peak = ModelFLOPs.rememberedSgemmPeak(file: store.workspace.appendingPathComponent("sgemm_peak.json").path,
                                                  threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        training.sgemmPeakOverride = peak
        stop.install()
        defer { stop.uninstall() }

        let progress = ProgressLine(label: "pretrain", total: training.state.plannedSteps > 0 ? training.state.plannedSteps : nil,
                                    isTerminal: ProgressLine.standardOutputIsTerminal, plainEverySteps: training.config.logInterval,
                                    write: ProgressLine.writeStandardOutput)
        printBanner(training, run: run, store: store, outDir: outDir, progress: progress)
        var events = PretrainEvents()
        events.stepped = { p in
            progress.total = p.plannedSteps   // --minutes plans the step count from the measured step time
            var extra = [("lr", String(format: "%.2e", p.learningRate))]
            if p.mfu.isFinite { extra.append(("MFU", String(format: "%.1f%%", p.mfu * 100))) }
            progress.update(step: p.step, loss: Double(p.loss), tokensPerSecond: p.tokensPerSecond, extra: extra)
        }
        events.evaluated = { e in
            progress.message("step \(e.step): val loss \(String(format: "%.4f", e.loss)) | val bpb \(String(format: "%.4f", e.bitsPerByte))")
        }
        events.checkpointSaved = { path, step in progress.message("step \(step): checkpoint saved in \(path)") }

        let outcome: PretrainOutcome
        do {
            outcome = try trainRun.run(events: events)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        let seconds = training.state.elapsedSeconds
        switch outcome {
        case .completed(let step):
            print("done: \(step) steps, \(training.state.tokensSeen) tokens in \(ProgressLine.duration(seconds)); model in \(outDir)")
            print("try: hayai generate \(outDir) -p \"Once upon a time\"")
        case .interrupted(let step):
            print("stopped at step \(step); checkpoint in \(PretrainCheckpoints.stepFolder(outDir, step: step)); continue with --resume --out \(outDir)")
            throw ExitCode(130)
        }
    }

    private func printBanner(_ training: PretrainRun, run: Run, store: RunStore, outDir: String, progress: ProgressLine) {
        let c = training.parameters.config, cfg = training.config
        let embedding = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2)
        let peak = training.sgemmPeakOverride ?? ModelFLOPs.sgemmPeak
        var lines = [
            "model: stablelm, \(Self.count(training.parameters.count)) parameters (\(Self.count(training.parameters.count - embedding)) without embeddings): "
                + "hidden \(c.hiddenSize), \(c.numLayers) layers, \(c.numHeads) heads (\(c.numKVHeads) kv), mlp \(c.intermediateSize), vocab \(c.vocabSize)",
            "data: \(Self.count(training.data.train.count)) training tokens, \(Self.count(training.data.validation.count)) validation tokens; "
                + "\(cfg.gradAccumulation)×\(cfg.microBatchSize)×\(cfg.contextLength) = \(cfg.tokensPerStep) tokens a step",
            "compute: \(String(format: "%.1f", training.flopsPerToken / 1e6)) MFLOP a token, sgemm peak \(String(format: "%.1f", peak / 1e9)) GFLOP/s (1024³, best measured here)",
            "run \(run.name) in \(store.databaseURL.path); checkpoints in \(outDir)",
        ]
        if let from = training.resumedFrom { lines.append("resuming from \(from) at step \(training.state.step)") }
        for line in lines { progress.message(line) }
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 10_000 ? String(format: "%.1fK", Double(n) / 1e3) : "\(n)"
    }

    /// `pretrain-YYYYMMDD-HHMMSS`, with -2, -3, ... when a run or a checkpoint folder of that name exists
    /// (two runs started within the same second). Reads the store only when it exists.
    static func generatedName(workspace: URL) throws -> String {
        let name = QuickstartCommand.runName("pretrain")
        let hasStore = FileManager.default.fileExists(atPath: workspace.appendingPathComponent(RunStore.databaseFileName).path)
        let store = hasStore ? try RunStore.open(workspace: workspace) : nil
        var candidate = name, n = 1
        while try FileManager.default.fileExists(atPath: workspace.appendingPathComponent("checkpoints/\(candidate)").path)
                || store?.run(named: candidate) != nil {
            n += 1
            candidate = "\(name)-\(n)"
        }
        return candidate
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

/// Ctrl-C (and SIGTERM) while training: the first asks the loop to stop after the current step and save;
/// a second quits at once (the last checkpoint on disk is whole either way).
final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []

    var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                lock.lock()
                let again = requested
                requested = true
                lock.unlock()
                if again { Foundation.exit(130) }
                CLI.printError("\nstopping: saving a checkpoint after this step (Ctrl-C again to quit now)")
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Gives SIGINT and SIGTERM back their default actions once training is over, so later stages
    /// (the quickstart's evals, a chat) can be stopped as usual.
    func uninstall() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }
    }
}
