// `hayai quickstart`: the whole loop on the bundled data, each stage the same command a user would
// run by hand — corpus → tokenizer → pretrained base → instruct (SFT) → both evaluated in both prompt
// formats → compare → the two answering the same prompts → an HTML report → chat. Every stage is
// skipped when its output exists, so a re-run resumes where the last one stopped.
import ArgumentParser
import Foundation
import Chat
import Evaluation
import Inference
import RunStore
import Tokenizers
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
        // Each stage is the command a user would type: -t goes to every one of them.
        let threadArgs = threads.map { ["-t", "\($0)"] } ?? []
        let workspace = home.map { URL(fileURLWithPath: $0) } ?? RunStore.defaultWorkspace
        if let base {
            return try QuickstartLoRATrack(model: base, workspace: workspace, minutes: minutes, loraRank: loraRank, sftSteps: sftSteps,
                                           evalLimit: evalLimit, noChat: noChat, runtime: runtime).run()
        }
        let q = workspace.appendingPathComponent("quickstart")
        try FileManager.default.createDirectory(at: q, withIntermediateDirectories: true)
        let corpus = q.appendingPathComponent("corpus").path, tokenizer = q.appendingPathComponent("corpus/tokenizer").path
        let base = q.appendingPathComponent("base").path, instruct = q.appendingPathComponent("instruct").path
        let homeArgs = ["--home", workspace.path]
        let stage = QuickstartStages(count: 8)
        let exists = QuickstartStages.exists
        print("""
            hayai quickstart in \(q.path): about \(Int(minutes) + 9) minutes on this machine \
            (\(Int(minutes)) of pretraining); stages already done are skipped.
            """)

        try stage(1, "corpus: bilingual text from Debian packages", done: exists(corpus, "manifest.json")) {
            try DataBuildCommand.parse(["--out", corpus, "--max-bytes", "\(maxBytes)"] + only.flatMap { ["--only", $0] }).run()
        }
        try stage(2, "tokenizer: byte-level BPE trained on the corpus", done: exists(tokenizer, "tokenizer.json") && exists(corpus, "tokens")) {
            try TokenizerTrainCommand.parse(["--corpus", corpus, "--vocab-size", "\(vocabSize)", "--out", tokenizer, "--tokenize"]).run()
        }
        try stage(3, "base model: pretraining", done: exists(base, "trainer_state.json")) {
            let config = q.appendingPathComponent("pretrain.json")
            try Data(#"{"preset": "tiny", "context_length": 256, "micro_batch_size": 8, "eval_interval": 200, "checkpoint_interval": 200}"#.utf8)
                .write(to: config)
            let resume = FileManager.default.fileExists(atPath: base) && PretrainCheckpointsProbe.hasStepFolder(base)
            try PretrainCommand.parse(["--config", config.path, "--data", corpus, "--out", base, "--minutes", "\(minutes)"]
                                      + (resume ? ["--resume"] : ["--name", Self.runName("quickstart-base")]) + homeArgs + threadArgs).run()
        }
        try stage(4, "instruct model: supervised fine-tuning", done: exists(instruct, "config.json")) {
            let sft = try Self.bundledInstructions()
            var args = ["--base", base, "--data", sft, "--out", instruct, "--seq-len", "256", "--epochs", "\(sftEpochs)",
                        "--corpus-pairs", corpus, "--corpus-pairs-limit", "600",
                        "--name", Self.runName("quickstart-sft")] + homeArgs + (sftSteps.map { ["--steps", "\($0)"] } ?? [])
            if let jcqa = Self.jglue("jcommonsenseqa/train-v1.3.json") {
                args += ["--jcommonsenseqa", jcqa, "--jcommonsenseqa-limit", "2000"]
            } else {
                print("($HAYAI_DATA has no JGLUE: fine-tuning on the hand-written instructions only)")
            }
            try SFTCommand.parse(args + threadArgs).run()
        }

        let store = try RunStore.open(workspace: workspace)
        var tasks = ["hayai-mini-en", "hayai-mini-ja", "hayai-mini-en-inst", "hayai-mini-ja-inst"]
        if Self.jglue("jcommonsenseqa/valid-v1.3.json") != nil { tasks += ["jcommonsenseqa-0.2", "jcommonsenseqa-0.3"] }
        var evalRuns: [String: Run] = [:]
        try stage(5, "evaluation: both models on \(tasks.joined(separator: ", "))", done: false) {
            for (label, path) in [("base", base), ("instruct", instruct)] {
                evalRuns[label] = try Self.evaluate(store: store, name: "quickstart-eval-\(label)-\(Self.stamp(of: path))", label: label,
                                                    model: path, adapter: nil, tasks: tasks, limit: evalLimit, runtime: runtime)
            }
        }
        try stage(6, "compare: instruct (B) against base (A)", done: false) {
            print(try Comparison.makeAndStore(store: store, a: evalRuns["base"]!, b: evalRuns["instruct"]!,
                                              name: try Self.unusedRunName("quickstart-compare", in: store)).record.text(show: 3))
        }
        try stage(7, "side by side: the same prompts to both models", done: false) {
            try Self.sideBySide(base: base, instruct: instruct, runtime: runtime)
        }
        let report = q.appendingPathComponent("report.html")
        try stage(8, "report", done: false) {
            let runs = try store.runs(limit: 200).filter { $0.name.hasPrefix("quickstart-") }.map(\.name)
            try Report.write(store: store, runs: runs, options: ReportOptions(title: "hayai quickstart"), to: report)
            print("wrote \(report.path) (open it in a browser)")
        }
        try Self.summary(store: store, corpus: corpus, tokenizer: tokenizer, q: q)
        print("\nquickstart finished in \(stage.elapsed)")
        try Self.offerChat(["--compare", base, instruct] + threadArgs, noChat: noChat)
    }

    /// data/sft/hayai-instruct-bilingual.jsonl of the repository the quickstart runs in.
    static func bundledInstructions() throws -> String {
        guard let sft = CLI.findRepositoryFolder("data").map({ ($0 as NSString).appendingPathComponent("sft/hayai-instruct-bilingual.jsonl") }),
              FileManager.default.fileExists(atPath: sft) else {
            throw UserError("data/sft/hayai-instruct-bilingual.jsonl not found: run the quickstart from the repository")
        }
        return sft
    }

    /// One model (with an adapter, or not) on `tasks` into the eval run `name`: reused when that run
    /// completed, resumed when it stopped partway.
    static func evaluate(store: RunStore, name: String, label: String, model path: String, adapter: String?, tasks: [String],
                         limit: Int?, runtime: RuntimeOptions) throws -> Run {
        if let run = try store.run(named: name), run.status == .completed { return run }
        let evalRun = try store.run(named: name) != nil
            ? try EvalRun.resume(store: store, name: name) { try EvalSets.load($0, folder: nil) }
            : try EvalRun.create(store: store, config: EvalRunConfig(model: path, adapter: adapter, tasks: tasks, limit: limit),
                                 tasks: try tasks.map { try EvalSets.load($0, folder: nil) }, name: name)
        let model = try LocalLanguageModel(path: path, adapter: adapter, runtime: runtime)
        let results = try EvalCommand.execute(evalRun, model: model, skipBadLines: false, quiet: false)
        print("\(label):\n" + EvalTable.render(results))
        return evalRun.run
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

    /// A run name unique to this attempt (a crashed earlier attempt keeps its own).
    static func runName(_ prefix: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyyMMdd-HHmmss"
        return "\(prefix)-\(f.string(from: Date()))"
    }

    /// runName(prefix), with -2, -3, ... added when a run of that name exists (a stage repeated within the second).
    static func unusedRunName(_ prefix: String, in store: RunStore) throws -> String {
        let name = runName(prefix)
        var candidate = name, n = 1
        while try store.run(named: candidate) != nil { n += 1; candidate = "\(name)-\(n)" }
        return candidate
    }

    /// A short tag of a checkpoint's weights file (its modification time), so evals of a retrained model get new runs.
    /// `checkpoint` is a folder holding `weights`, or the weights file itself (a GGUF).
    static func stamp(of checkpoint: String, weights: String = "model.safetensors") -> String {
        var isDirectory: ObjCBool = false
        let isFolder = FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDirectory) && isDirectory.boolValue
        let file = isFolder ? (checkpoint as NSString).appendingPathComponent(weights) : checkpoint
        let attributes = try? FileManager.default.attributesOfItem(atPath: file)
        let date = attributes?[.modificationDate] as? Date ?? Date()
        return String(Int(date.timeIntervalSince1970))
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
    static func sideBySide(base: String, instruct: String, runtime: RuntimeOptions) throws {
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
            print("\n> \(prompt)")
            for (label, s) in sessions {
                s.reset()
                let answer = try s.send(prompt).answer.trimmingCharacters(in: .whitespacesAndNewlines)
                print("  [\(label)] \(answer.replacingOccurrences(of: "\n", with: " ⏎ "))")
            }
        }
    }

    /// The numbers a new user wants at the end.
    static func summary(store: RunStore, corpus: String, tokenizer: String, q: URL) throws {
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
        print(lines.joined(separator: "\n"))
    }
}

/// Whether a pretraining output folder holds an intermediate checkpoint to resume from.
enum PretrainCheckpointsProbe {
    static func hasStepFolder(_ out: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []).contains { $0.hasPrefix("step-") }
    }
}

/// The quickstart's numbered stage headers, with the time since the start; a stage whose output exists is skipped.
struct QuickstartStages {
    let count: Int
    let started = Date()

    var elapsed: String {
        let s = Int(Date().timeIntervalSince(started))
        return "\(s / 60)m\(String(format: "%02ld", s % 60))s"
    }

    func callAsFunction(_ n: Int, _ title: String, done: Bool, _ body: () throws -> Void) throws {
        print("\n== \(n)/\(count) \(title)" + (done ? " (done before: skipped)" : "") + "  [\(elapsed)]")
        if !done { try body() }
    }

    static func exists(_ path: String, _ file: String) -> Bool {
        FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(file))
    }
}
