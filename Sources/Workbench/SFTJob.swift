// `hayai train sft` as a library call: instruction data (JSONL files, JCommonsenseQA's train split,
// a corpus's definition pairs) rendered in a chat format from prompts/, tokenized and packed, trained
// (every weight, or LoRA adapters beside the frozen base), recorded in the run store, and saved as a
// checkpoint or adapter folder that carries the chat template. The command and the quickstart both
// go through here.
import Foundation
import Chat
import Inference
import Kernels
import RunStore
import Tokenizers
import Training

public struct SFTRequest {
    public var base: String
    public var data: [String] = []
    /// JCommonsenseQA's train file (never the validation split), rendered with data/sft's instruction.
    public var jcommonsenseqa: String?
    public var jcommonsenseqaLimit: Int?
    /// A corpus folder whose Jargon File entries and Japanese manual pages give definition pairs.
    public var corpusPairs: String?
    public var corpusPairsLimit: Int?
    public var template = "jslm-instruct"
    public var config = SFTConfig()
    /// LoRA: rank, alpha (nil: 2 × rank), dropout, targets ("q,k,v,o,gate,up,down").
    public var loraRank: Int?
    public var loraAlpha: Double?
    public var loraDropout: Double?
    public var loraTargets = "q,k,v,o,gate,up,down"
    public var out: String?
    public var name: String?
    public var workspace: URL
    public var skipBadLines = false
    /// Record and print where each step's time goes, op by op (`--profile`).
    public var profile = false
    /// Tokens of examples held at once: data beyond one window is read a window at a time.
    public var windowTokens = SFTRun.windowTokens

    public init(base: String, workspace: URL) {
        self.base = base
        self.workspace = workspace
    }
}

public struct SFTEvents {
    /// A line the user should see (skipped data lines, validation losses).
    public var message: (String) -> Void = { _ in }
    public var stepped: (SFTProgress) -> Void = { _ in }
    public init() {}
}

public final class SFTJob {
    public let request: SFTRequest
    public let format: ChatTemplate
    public let training: SFTRun
    public let examples: Int
    /// Lines about the data said before training (bad lines skipped).
    public let warnings: [String]

    /// Loads the base and the data, renders and packs the examples, and plans the run; nothing is written yet.
    public init(_ request: SFTRequest) throws {
        for (name, given) in [("--lora-alpha", request.loraAlpha != nil), ("--lora-dropout", request.loraDropout != nil)]
        where given && request.loraRank == nil {
            throw WorkbenchError.invalid("\(name) needs --lora-rank")
        }
        guard !request.data.isEmpty || request.jcommonsenseqa != nil || request.corpusPairs != nil else {
            throw WorkbenchError.invalid("give instruction data: --data FILE.jsonl (repeatable), --jcommonsenseqa TRAIN or --corpus-pairs CORPUS")
        }
        self.request = request
        format = try TemplateLibrary.standard().template(named: request.template)
        let base = try BaseCheckpoint(path: request.base)
        let tokenizer = try base.tokenizer()
        guard let eos = tokenizer.eosTokenIDs.first, let eosText = tokenizer.tokenString(eos) else {
            throw WorkbenchError.invalid("\(request.base): the tokenizer names no end-of-sequence token")
        }
        try Self.checkSpecialTokens(of: format, in: tokenizer, base: request.base)

        // The JSONL files are streamed (a record at a time, trained from windows of examples), so memory does not
        // follow the data's size; JCommonsenseQA's train split and corpus pairs are small and held.
        var extra: [InstructionRecord] = []
        if let jcommonsenseqa = request.jcommonsenseqa {
            guard let sft = Repository.folder("data").map({ ($0 as NSString).appendingPathComponent("sft/jcommonsenseqa-instruction.txt") }),
                  let instruction = FileManager.default.contents(atPath: sft).flatMap({ String(validating: $0, as: UTF8.self) }) else {
                throw WorkbenchError.invalid("data/sft/jcommonsenseqa-instruction.txt not found: run from the repository")
            }
            extra += try InstructionData.jcommonsenseqa(trainFile: jcommonsenseqa, instruction: instruction, limit: request.jcommonsenseqaLimit)
        }
        if let corpus = request.corpusPairs { extra += try InstructionData.corpusPairs(corpus: corpus, limit: request.corpusPairsLimit) }
        let chat = format
        let source = SFTSource.instructions(files: request.data, skipBadLines: request.skipBadLines, extra: extra) {
            SFTPacking.tokenize(SFTJob.example($0, format: chat, eos: eosText), tokenizer: tokenizer)
        }

        var config = request.config
        if config.precision == .bf16, !GEMM.isAvailable(.bf16) { throw WorkbenchError.invalid("--precision bf16 needs AVX512-BF16, which this CPU lacks (use f32)") }
        if let rank = request.loraRank {
            config.lora = try LoRASettings.parse(rank: rank, alpha: request.loraAlpha, dropout: request.loraDropout ?? 0,
                                                 targets: request.loraTargets, base: base)
        }
        let pad = tokenizer.tokenID("<|padding|>") ?? eos
        training = try SFTRun(base: base, source: source, padToken: pad, config: config, windowTokens: request.windowTokens)
        if request.profile { training.profile = StepProfile() }
        examples = training.report.examples
        var warnings: [String] = []
        for file in request.data {
            let skipped = training.skippedLines.filter { $0.path == file }
            if let first = skipped.first { warnings.append("\(file): skipped \(skipped.count) bad lines (first: \(first))") }
        }
        self.warnings = warnings
    }

    /// What was packed and what will run, in the lines the command prints before training.
    public var summary: [String] {
        let r = training.report
        let scope = training.isStreamed ? " in the first window (the data is read a window at a time)" : ""
        return ["sft: \(examples) examples\(scope) (\(r.truncated) cut to fit a row, \(r.skipped) without a response left), "
                + "\(r.packedRows) packed rows, \(r.trainedTokens) of \(r.totalTokens) tokens trained on; "
                + "format \(format.name); \(training.plannedSteps) steps",
                "sft: \(training.memory)"]
    }

    public struct Outcome {
        public let run: Run
        public let out: String
        public let steps: Int
        public let validationLoss: Double?
        public var isLoRA: Bool
    }

    /// Trains (stopping between steps when `shouldStop` says so), records every metric in the store
    /// (the base's pretraining run as parent when the store has it), and saves the checkpoint or adapter.
    public func run(events: SFTEvents = SFTEvents(), shouldStop: @escaping () -> Bool = { false }) throws -> Outcome {
        let config = training.config
        let store = try RunStore.open(workspace: request.workspace)
        var runConfig: [String: String] = ["base": request.base, "template": format.name, "epochs": "\(config.epochs)", "lr": "\(config.lr)",
                                           "examples": "\(examples)", "data": request.data.joined(separator: ",")]
        if let steps = config.steps { runConfig["steps"] = "\(steps)" }
        runConfig["precision"] = config.precision.rawValue
        if training.isStreamed { runConfig["streamed"] = "true (examples counts the first window)" }
        if let limit = config.timeLimitSeconds { runConfig["minutes"] = "\(limit / 60)" }
        if let jcommonsenseqa = request.jcommonsenseqa { runConfig["jcommonsenseqa"] = jcommonsenseqa }
        if let corpusPairs = request.corpusPairs { runConfig["corpus_pairs"] = corpusPairs }
        if let lora = config.lora {
            runConfig["lora_rank"] = "\(lora.rank)"; runConfig["lora_alpha"] = "\(lora.alpha)"; runConfig["lora_dropout"] = "\(lora.dropout)"
            runConfig["lora_targets"] = lora.targets.map(\.rawValue).joined(separator: ",")
        }
        runConfig["base_hash"] = try ModelIdentity.contentHash(path: request.base)
        let baseURL = URL(fileURLWithPath: request.base).standardizedFileURL
        let baseRun = try? store.runs(kind: .pretrain).first { URL(fileURLWithPath: $0.model ?? "").standardizedFileURL == baseURL }
        let runName = try request.name ?? RunNaming.unused("sft", store: store, workspace: store.workspace)
        let out = request.out ?? store.workspace.appendingPathComponent("checkpoints").appendingPathComponent(runName).path
        // The folder the result lands in must exist before training, not be found missing after it:
        // the workspace's checkpoints folder is made; a folder the user named must be there.
        let parent = URL(fileURLWithPath: out).standardizedFileURL.deletingLastPathComponent()
        if request.out == nil {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        } else if !FileManager.default.fileExists(atPath: parent.path) {
            throw WorkbenchError.invalid("\(out): cannot write there: folder \(parent.path) does not exist")
        }
        let recorder = try RunRecorder.create(store: store, kind: .sft, name: runName, model: URL(fileURLWithPath: out).standardizedFileURL.path,
                                              config: runConfig, parent: baseRun?.name)
        return try recorder.recording {
            if let v = try training.validationLoss() {
                try recorder.log(step: 0, tokens: 0, metrics: ["val/loss": v])
                events.message("step 0: val loss \(String(format: "%.4f", v))")
            }
            let tokensPerStep = config.microBatchSize * config.gradAccumulation * training.seqLen
            var tokens = 0
            var metricsFailed = false
            let done = try training.run(onStep: { p in
                tokens += tokensPerStep
                do {
                    try recorder.log(step: p.step, tokens: tokens, metrics: [
                        "train/loss": Double(p.loss), "lr": p.learningRate, "grad_norm": Double(p.gradientNorm), "tokens_per_second": p.tokensPerSecond])
                } catch {
                    // A full disk: the recorder keeps the points and writes them once the store takes writes again;
                    // the model trained so far is worth more than the curve, so training goes on.
                    if !metricsFailed { events.message("metrics not stored for now (\(error)); training goes on") }
                    metricsFailed = true
                }
                events.stepped(p)
            }, shouldStop: shouldStop)
            var summary: [String: Double] = ["steps": Double(done)]
            let validation = try training.validationLoss()
            if let v = validation {
                try recorder.log(step: done, tokens: tokens, metrics: ["val/loss": v])
                summary["val/loss"] = v
                events.message("step \(done): val loss \(String(format: "%.4f", v))")
            }
            try training.save(to: out, chatTemplate: format.jinjaSource, templateName: format.name)
            let run = try recorder.finish(shouldStop() ? .interrupted : .completed, summary: summary)
            return Outcome(run: run, out: out, steps: done, validationLoss: validation, isLoRA: config.lora != nil)
        }
    }

    /// The profile's table after a run with `profile` (empty without).
    public var profileLines: [String] {
        training.profile.map { StepProfileTable.lines($0, tokensPerStep: training.tokensPerStep) } ?? []
    }

    /// Runs with a progress line on standard output, Ctrl-C asking for a stop after the step (the model
    /// or adapter trained so far is saved; a second Ctrl-C quits at once). Returns the outcome and the
    /// line that says where it is and how to chat with it.
    public func runShowingProgress() throws -> (outcome: Outcome, line: String) {
        let planned = training.plannedSteps
        let progress = ProgressLine(label: "sft", total: planned, isTerminal: ProgressLine.standardOutputIsTerminal,
                                    plainEverySteps: max(1, planned / 10), write: ProgressLine.writeStandardOutput)
        var events = SFTEvents()
        events.message = { progress.message($0) }
        events.stepped = { p in
            progress.total = p.plannedSteps   // --minutes plans the step count from the measured step time
            progress.update(step: p.step, loss: Double(p.loss), tokensPerSecond: p.tokensPerSecond,
                            extra: [("epoch", "\(p.epoch)"), ("lr", String(format: "%.2e", p.learningRate))])
        }
        let stop = StopRequest()
        stop.install()
        defer { stop.uninstall() }
        let outcome: Outcome
        do {
            outcome = try run(events: events, shouldStop: { stop.isRequested })
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        let line = outcome.isLoRA
            ? "LoRA adapter in \(outcome.out) (run \(outcome.run.name)); try: hayai chat \(request.base) --adapter \(outcome.out)"
            : "instruct model in \(outcome.out) (run \(outcome.run.name)); try: hayai chat \(outcome.out)"
        return (outcome, line)
    }

    /// An instruction record rendered with a chat format: what the model reads, and the answers
    /// (each followed by the end-of-text token) it is trained to write.
    public static func example(_ record: InstructionRecord, format: ChatTemplate, eos: String) -> SFTExample {
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
                throw WorkbenchError.invalid("\(base): the tokenizer has no special token \(token), which the \(format.name) format needs (choose another --template)")
            }
        }
    }
}
