// `hayai quickstart --base MODEL`: the real-model track. No corpus and no pretraining: MODEL (a Hugging
// Face folder or a GGUF, e.g. SmolLM2-135M-Instruct) is LoRA-tuned on the bundled instructions within
// the time budget, then MODEL and MODEL + adapter are evaluated on the same instruction-format sets,
// compared, and reported. The stage printer, the eval stage and SFT are the plain quickstart's.
import Foundation
import Evaluation
import Inference
import RunStore
import Training

public struct QuickstartLoRA {
    public let model: String
    public let loraRank: Int
    public let request: QuickstartRequest

    public init(model: String, loraRank: Int, request: QuickstartRequest) {
        self.model = model; self.loraRank = loraRank; self.request = request
    }

    /// A short name for MODEL's folder and runs: its file or folder name, without a .gguf extension.
    public var tag: String {
        let name = (URL(fileURLWithPath: model).standardizedFileURL.lastPathComponent as NSString).deletingPathExtension
        return String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" })
    }

    public var folder: URL { request.workspace.appendingPathComponent("quickstart-lora").appendingPathComponent(tag) }
    public var adapter: String { folder.appendingPathComponent("adapter").path }

    /// The instruction-format sets (the format the adapter is trained in), and JCommonsenseQA /
    /// XWinograd when $HAYAI_DATA has them.
    public static func tasks() -> [String] {
        var tasks = ["hayai-mini-en-inst", "hayai-mini-ja-inst"]
        if Quickstart.jglue("jcommonsenseqa/valid-v1.3.json") != nil { tasks.append("jcommonsenseqa-0.3") }
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

    /// The LoRA stage: one epoch within `--minutes`, in rows of `SFTConfig.defaultContextLength` tokens
    /// (or the model's context when shorter), 2 rows a step. A published model's tokenizer spends
    /// 1.5-2 tokens on a Japanese character, so a JCommonsenseQA item in the instruction format
    /// (~250-350 tokens) lost its answer to the plain quickstart's 256-token rows; 2 × 512 trains
    /// the same tokens a step as 4 × 256 did.
    public func sftRequest(name: String) throws -> SFTRequest {
        var sft = try Quickstart.sftRequest(base: model, out: adapter, name: name, request: request)
        sft.loraRank = loraRank
        sft.config.contextLength = SFTConfig.defaultContextLength
        sft.config.microBatchSize = 2
        sft.config.epochs = 1
        sft.config.timeLimitSeconds = request.minutes * 60
        return sft
    }

    /// Runs every stage not done before (see `Quickstart.run` for what stops it); returns the
    /// `hayai chat` arguments that compare MODEL with MODEL + adapter.
    public func run() throws -> [String] {
        let say = request.say, workspace = request.workspace, runtime = request.runtime, minutes = request.minutes
        guard FileManager.default.fileExists(atPath: model) else { throw WorkbenchError.notFound(path: model, what: "model folder or file") }
        guard minutes > 0 else { throw WorkbenchError.invalid("--minutes must be positive") }
        let q = folder, adapter = self.adapter
        try FileManager.default.createDirectory(at: q, withIntermediateDirectories: true)
        let prefix = "quickstart-lora-\(tag)"
        let stage = QuickstartStages(count: 4, say: say)
        say("hayai quickstart --base \(model) in \(q.path): \(minutes.formatted()) minutes of LoRA fine-tuning, then evaluation; "
            + "stages already done are skipped.")

        try stage(1, "LoRA fine-tuning of \(tag) on the bundled instructions", done: QuickstartStages.exists(adapter, "adapter_config.json")) {
            try Quickstart.fineTune(try sftRequest(name: RunNaming.stamped("\(prefix)-sft")), say: say)
        }

        let store = try RunStore.open(workspace: workspace)
        let tasks = Self.tasks()
        var runs: [String: Run] = [:]
        try stage(2, "evaluation: \(tag) and \(tag) + adapter on \(tasks.joined(separator: ", "))", done: false) {
            // The names carry the task set and limit, so a run asked for other tasks is a new run, not a resume.
            let asked = Self.fingerprint(tasks.joined(separator: ",") + "/\(request.evalLimit)")
            let baseStamp = RunNaming.stamp(of: model) + "-" + asked
            let adapterStamp = RunNaming.stamp(of: adapter, weights: "adapter_model.safetensors") + "-" + asked
            runs["base"] = try Quickstart.evaluate(store: store, name: "\(prefix)-eval-base-\(baseStamp)", label: "base", model: model,
                                                   adapter: nil, tasks: tasks, limit: request.evalLimit, runtime: runtime, say: say)
            runs["tuned"] = try Quickstart.evaluate(store: store, name: "\(prefix)-eval-tuned-\(adapterStamp)", label: "base + adapter",
                                                    model: model, adapter: adapter, tasks: tasks, limit: request.evalLimit, runtime: runtime, say: say)
        }
        try stage(3, "compare: base + adapter (B) against base (A)", done: false) {
            say(try Comparison.makeAndStore(store: store, a: runs["base"]!, b: runs["tuned"]!,
                                            name: try RunNaming.unused("\(prefix)-compare", store: store, workspace: workspace)).record.text(show: 3))
        }
        let report = q.appendingPathComponent("report.html")
        try stage(4, "report", done: false) {
            let names = try store.runs(limit: 200).filter { $0.name.hasPrefix(prefix + "-") }.map(\.name)
            try Report.write(store: store, runs: names, options: ReportOptions(title: "hayai quickstart --base \(tag)"), to: report)
            say("wrote \(report.path) (open it in a browser)")
        }
        if let sft = try store.runs(limit: 200).first(where: { $0.name.hasPrefix("\(prefix)-sft") && $0.status == .completed }),
           let v = try store.lastValues(run: sft)["val/loss"] {
            say("\nadapter validation loss: \(String(format: "%.4f", v)) (run \(sft.name))")
        }
        say("\nquickstart --base finished in \(stage.elapsed)")
        return ["--compare", model, model, "--adapter", adapter] + (runtime.threads.map { ["-t", "\($0)"] } ?? [])
    }
}
