// `hayai quickstart --base MODEL`: the real-model track. No corpus and no pretraining: MODEL (a Hugging
// Face folder or a GGUF, e.g. SmolLM2-135M-Instruct) is LoRA-tuned on the bundled instructions within
// --minutes, then MODEL and MODEL + adapter are evaluated on the same instruction-format sets, compared,
// and reported, and `chat --compare` is offered. Each stage is the command a user would run by hand;
// the stage printer, the eval stage and the chat offer are the plain quickstart's.
import Foundation
import Evaluation
import Inference
import RunStore
import Workbench

struct QuickstartLoRATrack {
    let model: String
    let workspace: URL
    let minutes: Double
    let loraRank: Int
    let sftSteps: Int?
    let evalLimit: Int
    let noChat: Bool
    let runtime: RuntimeOptions

    /// -t for the stages run as commands (the one runtime value reaches every stage).
    var threadArgs: [String] { runtime.threads.map { ["-t", "\($0)"] } ?? [] }

    /// A short name for MODEL's folder and runs: its file or folder name, without a .gguf extension.
    var tag: String {
        let name = (URL(fileURLWithPath: model).standardizedFileURL.lastPathComponent as NSString).deletingPathExtension
        return String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
    }

    /// The instruction-format sets (the format the adapter is trained in), and JCommonsenseQA /
    /// XWinograd when $HAYAI_DATA has them.
    static func tasks() -> [String] {
        var tasks = ["hayai-mini-en-inst", "hayai-mini-ja-inst"]
        if QuickstartCommand.jglue("jcommonsenseqa/valid-v1.3.json") != nil { tasks.append("jcommonsenseqa-0.3") }
        if let root = ProcessInfo.processInfo.environment["HAYAI_DATA"] {
            for (task, file) in [("xwinograd-en", "xwinograd_en.jsonl"), ("xwinograd-ja", "xwinograd_jp.jsonl")]
            where FileManager.default.fileExists(atPath: "\(root)/xwinograd/\(file)") {
                tasks.append(task)
            }
        }
        return tasks
    }

    /// Eight hex digits of FNV-1a over `text` (stable across runs, unlike Hasher).
    static func fingerprint(_ text: String) -> String {
        var h: UInt32 = 2_166_136_261
        for byte in text.utf8 { h = (h ^ UInt32(byte)) &* 16_777_619 }
        return String(format: "%08x", h)
    }

    func run() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw UserError("\(model): no such model folder or file") }
        guard minutes > 0 else { throw UserError("--minutes must be positive") }
        let q = workspace.appendingPathComponent("quickstart-lora").appendingPathComponent(tag)
        try FileManager.default.createDirectory(at: q, withIntermediateDirectories: true)
        let adapter = q.appendingPathComponent("adapter").path
        let prefix = "quickstart-lora-\(tag)"
        let homeArgs = ["--home", workspace.path]
        let stage = QuickstartStages(count: 4)
        print("hayai quickstart --base \(model) in \(q.path): \(minutes.formatted()) minutes of LoRA fine-tuning, then evaluation; "
              + "stages already done are skipped.")

        try stage(1, "LoRA fine-tuning of \(tag) on the bundled instructions", done: QuickstartStages.exists(adapter, "adapter_config.json")) {
            var args = ["--base", model, "--data", try QuickstartCommand.bundledInstructions(), "--out", adapter,
                        "--lora-rank", "\(loraRank)", "--seq-len", "256", "--batch-size", "4", "--epochs", "1", "--minutes", "\(minutes)",
                        "--name", QuickstartCommand.runName("\(prefix)-sft")] + homeArgs + threadArgs + (sftSteps.map { ["--steps", "\($0)"] } ?? [])
            if let jcqa = QuickstartCommand.jglue("jcommonsenseqa/train-v1.3.json") {
                args += ["--jcommonsenseqa", jcqa, "--jcommonsenseqa-limit", "2000"]
            } else {
                print("($HAYAI_DATA has no JGLUE: fine-tuning on the hand-written instructions only)")
            }
            try SFTCommand.parse(args).run()
        }

        let store = try RunStore.open(workspace: workspace)
        let tasks = Self.tasks()
        var runs: [String: Run] = [:]
        try stage(2, "evaluation: \(tag) and \(tag) + adapter on \(tasks.joined(separator: ", "))", done: false) {
            // The names carry the task set and limit, so a run asked for other tasks is a new run, not a resume.
            let asked = Self.fingerprint(tasks.joined(separator: ",") + "/\(evalLimit)")
            let baseStamp = QuickstartCommand.stamp(of: model) + "-" + asked
            let adapterStamp = QuickstartCommand.stamp(of: adapter, weights: "adapter_model.safetensors") + "-" + asked
            runs["base"] = try QuickstartCommand.evaluate(store: store, name: "\(prefix)-eval-base-\(baseStamp)", label: "base", model: model,
                                                          adapter: nil, tasks: tasks, limit: evalLimit, runtime: runtime)
            runs["tuned"] = try QuickstartCommand.evaluate(store: store, name: "\(prefix)-eval-tuned-\(adapterStamp)", label: "base + adapter",
                                                           model: model, adapter: adapter, tasks: tasks, limit: evalLimit, runtime: runtime)
        }
        try stage(3, "compare: base + adapter (B) against base (A)", done: false) {
            print(try Comparison.makeAndStore(store: store, a: runs["base"]!, b: runs["tuned"]!,
                                              name: try QuickstartCommand.unusedRunName("\(prefix)-compare", in: store)).record.text(show: 3))
        }
        let report = q.appendingPathComponent("report.html")
        try stage(4, "report", done: false) {
            let names = try store.runs(limit: 200).filter { $0.name.hasPrefix(prefix + "-") }.map(\.name)
            try Report.write(store: store, runs: names, options: ReportOptions(title: "hayai quickstart --base \(tag)"), to: report)
            print("wrote \(report.path) (open it in a browser)")
        }
        if let sft = try store.runs(limit: 200).first(where: { $0.name.hasPrefix("\(prefix)-sft") && $0.status == .completed }),
           let v = try store.lastValues(run: sft)["val/loss"] {
            print("\nadapter validation loss: \(String(format: "%.4f", v)) (run \(sft.name))")
        }
        print("\nquickstart --base finished in \(stage.elapsed)")
        try QuickstartCommand.offerChat(["--compare", model, model, "--adapter", adapter] + threadArgs, noChat: noChat)
    }
}
