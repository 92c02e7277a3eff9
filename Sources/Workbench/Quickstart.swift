// `hayai quickstart`: the whole loop on the bundled data, each stage the library call its own command
// makes — corpus → tokenizer → pretrained base → instruct (SFT) → both evaluated in both prompt formats
// → compare → the two answering the same prompts → an HTML report. Every stage is skipped when its
// output exists, so a re-run resumes where the last one stopped. `QuickstartLoRA` is the real-model
// track (`--base MODEL`). The executable parses, calls this, and offers the chat at the end.
import Foundation
import Chat
import Evaluation
import Inference
import Kernels
import RunStore
import Tokenizers
import Training

public struct QuickstartRequest {
    public var workspace: URL
    public var minutes: Double = 5
    public var maxBytes = 4_000_000
    public var vocabSize = 4096
    public var evalLimit = 300
    public var sftEpochs = 2
    public var sftSteps: Int?
    /// Only these sources of the Debian corpus (default: all).
    public var only: [String] = []
    public var runtime = RuntimeOptions()
    /// Where stage headers and results go (standard output by default).
    public var say: (String) -> Void = { print($0) }

    public init(workspace: URL) { self.workspace = workspace }
}

public struct Quickstart {
    public let request: QuickstartRequest
    public var folder: URL { request.workspace.appendingPathComponent("quickstart") }
    public var base: String { folder.appendingPathComponent("base").path }
    public var instruct: String { folder.appendingPathComponent("instruct").path }

    public init(_ request: QuickstartRequest) { self.request = request }

    /// Runs every stage not done before; throws `Interrupted` when pretraining or SFT was stopped (Ctrl-C),
    /// `EvalInterrupted` when an evaluation was. Returns the `hayai chat` arguments that compare the two.
    public func run() throws -> [String] {
        let q = folder, say = request.say, runtime = request.runtime, workspace = request.workspace
        try FileManager.default.createDirectory(at: q, withIntermediateDirectories: true)
        let corpus = q.appendingPathComponent("corpus").path, tokenizer = q.appendingPathComponent("corpus/tokenizer").path
        let base = self.base, instruct = self.instruct
        let stage = QuickstartStages(count: 8, say: say)
        let exists = QuickstartStages.exists
        let minutes = request.minutes
        say("hayai quickstart in \(q.path): about \(Int(minutes) + 9) minutes on this machine (\(Int(minutes)) of pretraining); "
            + "stages already done are skipped.")

        try stage(1, "corpus: bilingual text from Debian packages", done: exists(corpus, "manifest.json")) {
            var build = CorpusBuildRequest(out: corpus)
            build.useDefault = true
            build.only = request.only
            build.maxBytes = request.maxBytes
            for line in try CorpusJobs.build(build, log: Self.sayError) { say(line) }
        }
        try stage(2, "tokenizer: byte-level BPE trained on the corpus", done: exists(tokenizer, "tokenizer.json") && exists(corpus, "tokens")) {
            say(try CorpusJobs.trainTokenizer(documents: try CorpusJobs.trainingDocuments(corpus: corpus), source: corpus,
                                              vocabSize: request.vocabSize, out: tokenizer))
            say(try CorpusJobs.tokenize(corpus: corpus, tokenizer: tokenizer, log: Self.sayError))
        }
        try stage(3, "base model: pretraining", done: exists(base, "trainer_state.json")) {
            let config = q.appendingPathComponent("pretrain.json")
            try Data(#"{"preset": "tiny", "context_length": 256, "micro_batch_size": 8, "eval_interval": 200, "checkpoint_interval": 200}"#.utf8)
                .write(to: config)
            var pretrain = PretrainRequest(workspace: workspace)
            pretrain.config = config.path
            pretrain.corpus = corpus
            pretrain.out = base
            pretrain.minutes = minutes
            pretrain.threads = runtime.threads
            if FileManager.default.fileExists(atPath: base) && Self.hasStepFolder(base) {
                pretrain.resume = true
            } else {
                pretrain.name = RunNaming.stamped("quickstart-base")
            }
            let job = try PretrainJob(pretrain)
            for warning in job.warnings { Self.sayError("warning: \(warning)") }
            let (outcome, lines) = try job.runShowingProgress()
            lines.forEach(say)
            if case .interrupted = outcome { throw Interrupted() }
        }
        try stage(4, "instruct model: supervised fine-tuning", done: exists(instruct, "config.json")) {
            var sft = try Self.sftRequest(base: base, out: instruct, name: RunNaming.stamped("quickstart-sft"), request: request)
            sft.config.epochs = request.sftEpochs
            sft.corpusPairs = corpus
            sft.corpusPairsLimit = 600
            try Self.fineTune(sft, say: say)
        }

        let store = try RunStore.open(workspace: workspace)
        var tasks = ["hayai-mini-en", "hayai-mini-ja", "hayai-mini-en-inst", "hayai-mini-ja-inst"]
        if Self.jglue("jcommonsenseqa/valid-v1.3.json") != nil { tasks += ["jcommonsenseqa-0.2", "jcommonsenseqa-0.3"] }
        var evalRuns: [String: Run] = [:]
        try stage(5, "evaluation: both models on \(tasks.joined(separator: ", "))", done: false) {
            for (label, path) in [("base", base), ("instruct", instruct)] {
                evalRuns[label] = try Self.evaluate(store: store, name: "quickstart-eval-\(label)-\(RunNaming.stamp(of: path))", label: label,
                                                    model: path, adapter: nil, tasks: tasks, limit: request.evalLimit, runtime: runtime, say: say)
            }
        }
        try stage(6, "compare: instruct (B) against base (A)", done: false) {
            say(try Comparison.makeAndStore(store: store, a: evalRuns["base"]!, b: evalRuns["instruct"]!,
                                            name: try RunNaming.unused("quickstart-compare", store: store, workspace: workspace)).record.text(show: 3))
        }
        try stage(7, "side by side: the same prompts to both models", done: false) {
            try Self.sideBySide(base: base, instruct: instruct, runtime: runtime, say: say)
        }
        let report = q.appendingPathComponent("report.html")
        try stage(8, "report", done: false) {
            let runs = try store.runs(limit: 200).filter { $0.name.hasPrefix("quickstart-") }.map(\.name)
            try Report.write(store: store, runs: runs, options: ReportOptions(title: "hayai quickstart"), to: report)
            say("wrote \(report.path) (open it in a browser)")
        }
        try Self.summary(store: store, corpus: corpus, tokenizer: tokenizer).forEach(say)
        say("\nquickstart finished in \(stage.elapsed)")
        return ["--compare", base, instruct] + (runtime.threads.map { ["-t", "\($0)"] } ?? [])
    }

    static func sayError(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// Fine-tuning on the bundled instructions (and JCommonsenseQA's train split when $HAYAI_DATA has
    /// it) in 256-token rows (the pretrained model's context); `QuickstartLoRA` widens them for a published base.
    static func sftRequest(base: String, out: String, name: String, request: QuickstartRequest) throws -> SFTRequest {
        var sft = SFTRequest(base: base, workspace: request.workspace)
        sft.data = [try bundledInstructions()]
        sft.out = out
        sft.name = name
        sft.config.contextLength = 256
        sft.config.steps = request.sftSteps
        sft.config.minLR = sft.config.lr / 10
        if let jcqa = jglue("jcommonsenseqa/train-v1.3.json") {
            sft.jcommonsenseqa = jcqa
            sft.jcommonsenseqaLimit = 2000
        } else {
            request.say("($HAYAI_DATA has no JGLUE: fine-tuning on the hand-written instructions only)")
        }
        return sft
    }

    /// SFT with its progress line; a Ctrl-C that stopped it ends the quickstart (`Interrupted`).
    static func fineTune(_ request: SFTRequest, say: (String) -> Void) throws {
        let job = try SFTJob(request)
        for warning in job.warnings { sayError(warning) }
        job.summary.forEach(say)
        let (outcome, line) = try job.runShowingProgress()
        say(line)
        if outcome.run.status == .interrupted { throw Interrupted() }
    }

    /// data/sft/hayai-instruct-bilingual.jsonl of the repository the quickstart runs in.
    public static func bundledInstructions() throws -> String {
        guard let sft = Repository.folder("data").map({ ($0 as NSString).appendingPathComponent("sft/hayai-instruct-bilingual.jsonl") }),
              FileManager.default.fileExists(atPath: sft) else {
            throw WorkbenchError.invalid("data/sft/hayai-instruct-bilingual.jsonl not found: run the quickstart from the repository")
        }
        return sft
    }

    /// One model (with an adapter, or not) on `tasks` into the eval run `name`: reused when that run
    /// completed, resumed when it stopped partway.
    static func evaluate(store: RunStore, name: String, label: String, model path: String, adapter: String?, tasks: [String],
                         limit: Int?, runtime: RuntimeOptions, say: (String) -> Void) throws -> Run {
        if let run = try store.run(named: name), run.status == .completed { return run }
        let evalRun = try store.run(named: name) != nil
            ? try EvalRun.resume(store: store, name: name) { try EvalSets.load($0, folder: nil) }
            : try EvalRun.create(store: store, config: EvalRunConfig(model: path, adapter: adapter, tasks: tasks, limit: limit),
                                 tasks: try tasks.map { try EvalSets.load($0, folder: nil) }, name: name)
        let model = try LocalLanguageModel(path: path, adapter: adapter, runtime: runtime)
        let results = try evalRun.runShowingProgress(model: model)
        say("\(label):\n" + EvalTable.render(results))
        return evalRun.run
    }

    /// Whether a pretraining output folder holds an intermediate checkpoint to resume from.
    static func hasStepFolder(_ out: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { $0.hasPrefix("step-") }
    }

    /// A JGLUE file under $HAYAI_DATA/jglue, when the user has the data.
    static func jglue(_ relative: String) -> String? {
        guard let root = ProcessInfo.processInfo.environment["HAYAI_DATA"] else { return nil }
        let path = ((root as NSString).appendingPathComponent("jglue") as NSString).appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    static let samplePrompts = ["日本の首都はどこですか？", "What is the capital of France?", "りんごは何色ですか？",
                                "Translate into Japanese: Good morning.", "猫と犬の違いを一文で説明してください。"]

    /// Both models answer the same prompts (greedy): the base as plain completion, the instruct model
    /// in the chat format detected from its checkpoint.
    static func sideBySide(base: String, instruct: String, runtime: RuntimeOptions, say: (String) -> Void) throws {
        let library = TemplateLibrary.standard()
        var settings = ChatSettings()
        settings.sampling.temperature = 0
        settings.sampling.repetitionPenalty = 1.15
        settings.maxTokens = 48
        func session(_ path: String, template: ChatTemplate?) throws -> ChatSession {
            let model = try Model.load(path: path)
            let detection = TemplateDetection.detect(model: model, library: library)
            return ChatSession(model: try LocalLanguageModel(model: model, runtime: RuntimeOptions(threads: runtime.threads, contextLength: 512)),
                               template: template ?? detection.template, checkpointSystem: detection.defaultSystem, settings: settings)
        }
        let plain = try library.template(named: "plain")
        let sessions = [("base", try session(base, template: plain)), ("instruct", try session(instruct, template: nil))]
        for prompt in samplePrompts {
            say("\n> \(prompt)")
            for (label, s) in sessions {
                s.reset()
                let answer = try s.send(prompt).answer.trimmingCharacters(in: .whitespacesAndNewlines)
                say("  [\(label)] \(answer.replacingOccurrences(of: "\n", with: " ⏎ "))")
            }
        }
    }

    /// The numbers a new user wants at the end.
    static func summary(store: RunStore, corpus: String, tokenizer: String) throws -> [String] {
        var lines = ["", "== summary"]
        if let data = FileManager.default.contents(atPath: (corpus as NSString).appendingPathComponent("manifest.json")),
           let manifest = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let splits = manifest["splits"] as? [String: Any] {
            let train = splits["train"] as? [String: Any], val = splits["val"] as? [String: Any]
            lines.append("corpus: \(train?["bytes"] ?? "?") bytes of training text (\(train?["tokens"] ?? "?") tokens), \(val?["bytes"] ?? "?") bytes held out")
        }
        if let t = try? TokenizerLoader.load(folder: tokenizer) { lines.append("tokenizer: \(t.vocabularySize) tokens") }
        for (label, prefix) in [("base", "quickstart-base"), ("instruct", "quickstart-sft")] {
            if let run = try store.runs(limit: 200).first(where: { $0.name.hasPrefix(prefix) && $0.status == .completed }),
               let v = try store.lastValues(run: run)["val/loss"] {
                lines.append("\(label) validation loss: \(String(format: "%.4f", v)) (run \(run.name))")
            }
        }
        return lines
    }
}

/// The quickstart's numbered stage headers, with the time since the start; a stage whose output exists is skipped.
public struct QuickstartStages {
    let count: Int
    let say: (String) -> Void
    let started = Date()

    public var elapsed: String {
        let s = Int(Date().timeIntervalSince(started))
        return "\(s / 60)m\(String(format: "%02ld", s % 60))s"
    }

    func callAsFunction(_ n: Int, _ title: String, done: Bool, _ body: () throws -> Void) throws {
        say("\n== \(n)/\(count) \(title)" + (done ? " (done before: skipped)" : "") + "  [\(elapsed)]")
        if !done { try body() }
    }

    static func exists(_ path: String, _ file: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(file))
    }
}
