// `hayai train pretrain` as a library call: the request a user makes (a config preset or file, a
// corpus or a text file, --init, --steps/--minutes, --resume), checked before the store is touched,
// then the run recorded through TrainRun. The command and the quickstart both go through here.
import Foundation
import Kernels
import RunStore
import Training

public struct PretrainRequest {
    /// A preset name or a JSON config file (nil only with `resume`: the checkpoint's config).
    public var config: String?
    /// A corpus folder from `hayai data build`, or a UTF-8 text file with `tokenizer`.
    public var corpus: String?
    public var text: String?
    public var tokenizer: String?
    /// Continued pretraining of this checkpoint (a Hugging Face folder or a GGUF).
    public var initModel: String?
    public var steps: Int?
    public var minutes: Double?
    public var out: String?
    public var resume = false
    public var name: String?
    public var workspace: URL
    public var threads: Int?
    public var seed: UInt64?
    /// `--precision`: the matmuls' arithmetic (nil: the config's, else f32).
    public var precision: GEMMPrecision?
    /// Polled between steps beside Ctrl-C: true stops after saving a checkpoint.
    public var shouldStop: () -> Bool = { false }
    public var checkpointFault: ((String, String) throws -> Void)?
    /// Record and print where each step's time goes, op by op (`--profile`).
    public var profile = false

    public init(workspace: URL) { self.workspace = workspace }
}

public final class PretrainJob {
    public let trainRun: TrainRun
    public let outDir: String
    public let store: RunStore
    /// Lines about the data a user should see before training (skipped lines, small corpora).
    public let warnings: [String]
    /// Ctrl-C while `runShowingProgress` runs: stop after this step and save.
    public let stop = StopRequest()
    public var training: PretrainRun { trainRun.training }
    public var run: Run { trainRun.run }

    public init(_ request: PretrainRequest) throws {
        guard (request.corpus != nil) != (request.text != nil) else { throw WorkbenchError.invalid("give exactly one of a corpus folder or a text file") }
        let runName = try request.name ?? (request.resume ? nil : RunNaming.unused("pretrain", workspace: request.workspace))
        guard let outDir = request.out ?? runName.map({ request.workspace.appendingPathComponent("checkpoints").appendingPathComponent($0).path }) else {
            throw WorkbenchError.invalid("resuming needs the checkpoint folder or the run's name")
        }
        self.outDir = outDir

        // Everything that can be wrong with the input is found before the run store is touched.
        var config: PretrainConfig
        let configSource: String
        if let given = request.config {
            config = try PretrainConfig.resolve(given)
            configSource = given
        } else {
            let latest = try PretrainCheckpoints.latest(outDir)
            config = latest.state.config
            configSource = (latest.folder as NSString).appendingPathComponent(PretrainState.fileName)
        }
        if let seed = request.seed { config.seed = seed }
        try config.validate(path: configSource)
        let base = try request.initModel.map { try BaseCheckpoint(path: $0) }
        let data: PretrainData
        if let corpus = request.corpus {
            data = try PretrainData.corpus(corpus, tokenizerFolder: base?.tokenizerFolder ?? request.tokenizer)
        } else {
            guard let folder = request.tokenizer ?? request.initModel else { throw WorkbenchError.invalid("a text file needs a tokenizer folder") }
            data = try PretrainData.text(request.text!, tokenizerFolder: folder)
        }
        warnings = data.warnings

        var options = PretrainOptions(out: outDir)
        options.resume = request.resume
        options.steps = request.steps
        options.minutes = request.minutes
        options.precision = request.precision
        options.runName = runName
        options.initFrom = base
        let stop = self.stop, shouldStop = request.shouldStop
        options.shouldStop = { stop.isRequested || shouldStop() }
        options.checkpointFault = request.checkpointFault
        options.profile = request.profile
        let training = try PretrainRun(config: config, data: data, options: options, configSource: configSource)

        store = try RunStore.open(workspace: request.workspace)
        let initRecord = try request.initModel.map { InitRecord(path: $0, hash: try ModelIdentity.contentHash(path: $0)) }
        trainRun = try TrainRun(training: training, store: store, model: URL(fileURLWithPath: outDir).standardizedFileURL.path, initFrom: initRecord)
        training.arithmeticPeakOverride = ModelFLOPs.rememberedPeak(file: store.workspace.appendingPathComponent("arithmetic_peak.json").path,
                                                                    threads: request.threads ?? ProcessInfo.processInfo.activeProcessorCount,
                                                                    precision: training.config.precision ?? .f32)
    }

    /// What the run is, in the lines the command prints before the first step.
    public var banner: [String] {
        let c = training.parameters.config, cfg = training.config
        let embedding = c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2)
        let precision = cfg.precision ?? .f32
        let peak = training.arithmeticPeakOverride ?? ModelFLOPs.arithmeticPeak(threads: BLAS.threads, precision: precision)
        var lines = [
            "model: stablelm, \(Self.count(training.parameters.count)) parameters (\(Self.count(training.parameters.count - embedding)) without embeddings): "
                + "hidden \(c.hiddenSize), \(c.numLayers) layers, \(c.numHeads) heads (\(c.numKVHeads) kv), mlp \(c.intermediateSize), vocab \(c.vocabSize)",
            "data: \(Self.count(training.data.train.count)) training tokens, \(Self.count(training.data.validation.count)) validation tokens; "
                + "\(cfg.gradAccumulation)×\(cfg.microBatchSize)×\(cfg.contextLength) = \(cfg.tokensPerStep) tokens a step",
            "compute: \(String(format: "%.1f", training.flopsPerToken / 1e6)) MFLOP a token, MFU against the \(precision == .bf16 ? "bf16 dot-product" : "f32 FMA") peak of these cores, \(String(format: "%.0f", peak / 1e9)) GFLOP/s (measured)",
            "run \(run.name) in \(store.databaseURL.path); checkpoints in \(outDir)",
        ]
        if let from = training.resumedFrom { lines.append("resuming from \(from) at step \(training.state.step)") }
        return lines
    }

    /// Runs the loop to its end or a stop, recording every metric; the outcome says which.
    public func run(events: PretrainEvents = PretrainEvents()) throws -> PretrainOutcome {
        try trainRun.run(events: events)
    }

    /// Runs with the banner and a live progress line on standard output, Ctrl-C asking for a stop after
    /// the step (a second quits at once). Returns the outcome and the lines that say where the model is.
    public func runShowingProgress() throws -> (outcome: PretrainOutcome, lines: [String]) {
        let progress = ProgressLine(label: "pretrain", total: training.state.plannedSteps > 0 ? training.state.plannedSteps : nil,
                                    isTerminal: ProgressLine.standardOutputIsTerminal, plainEverySteps: training.config.logInterval,
                                    write: ProgressLine.writeStandardOutput)
        for line in banner { progress.message(line) }
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
        stop.install()
        defer { stop.uninstall() }
        let outcome: PretrainOutcome
        do {
            outcome = try run(events: events)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        let profileLines = training.profile.map { StepProfileTable.lines($0, tokensPerStep: training.config.tokensPerStep) } ?? []
        switch outcome {
        case .completed(let step):
            return (outcome, profileLines + ["done: \(step) steps, \(training.state.tokensSeen) tokens in \(ProgressLine.duration(training.state.elapsedSeconds)); model in \(outDir)",
                              "try: hayai generate \(outDir) -p \"Once upon a time\""])
        case .interrupted(let step):
            return (outcome, profileLines + ["stopped at step \(step); checkpoint in \(PretrainCheckpoints.stepFolder(outDir, step: step)); continue with --resume --out \(outDir)"])
        }
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 10_000 ? String(format: "%.1fK", Double(n) / 1e3) : "\(n)"
    }
}

/// The checkpoint a continued pretraining started from, as the run store keeps it.
public struct InitRecord: Sendable {
    public var path: String
    public var hash: String
}
