// A workspace that looks like a morning's work: a 300-step pretraining run, a 120-step SFT run
// started from it, and two eval runs (base and instruct) on a Japanese and an English task, with items.
import Foundation
@testable import RunStore

enum ReportFixtures {
    static let pretrainSteps = 300
    static let sftSteps = 120
    static let valEvery = 25
    static let items = 40

    /// Validation steps of a run with `steps` steps: every `valEvery`, and the last.
    static func valSteps(_ steps: Int) -> [Int] {
        var s = Array(stride(from: 0, to: steps, by: valEvery))
        if s.last != steps - 1 { s.append(steps - 1) }
        return s
    }

    static func logTraining(_ store: RunStore, name: String, kind: RunKind, steps: Int, start: Double, parent: String? = nil) throws {
        let run = try store.createRun(kind: kind, name: name, model: "runs/\(name)", config: #"{"layers": 4, "d_model": 256}"#, parent: parent)
        let vals = Set(valSteps(steps))
        var rng = SplitMix(seed: UInt64(steps))
        for step in 0..<steps {
            let t = Double(step)
            let loss = 1.8 + (start - 1.8) * exp(-t / 60) + 0.08 * (rng.next() - 0.5)
            let warmup = min(1, (t + 1) / 30)
            let lr = 3e-4 * warmup * (0.1 + 0.9 * 0.5 * (1 + cos(Double.pi * t / Double(steps))))
            var metrics = ["train/loss": loss, "lr": lr, "grad_norm": 0.4 + 2.5 * exp(-t / 40) + 0.1 * rng.next(),
                           "tokens_per_second": 5200 + 300 * rng.next()]
            if vals.contains(step) { metrics["val/loss"] = loss + 0.12 }
            try store.log(run: run, step: step, tokens: (step + 1) * 4096, metrics: metrics)
        }
        try store.finish(run: run)
    }

    struct Task {
        var name: String
        var questions: [(question: String, choices: [String])]
    }

    static let tasks: [Task] = [
        Task(name: "jcommonsenseqa", questions: (0..<items).map { i in
            ("問題\(i): 電車に乗るときに必要なものは何ですか？", ["切符", "傘", "鍵", "本", "財布"])
        }),
        Task(name: "xwinograd_en", questions: (0..<items).map { i in
            ("Item \(i): The trophy doesn't fit into the suitcase because _ is too large.", ["the trophy", "the suitcase"])
        }),
    ]

    /// Whether each model gets item i of a task right: the instruct model more often, and not on the same items.
    static func correct(model: Int, task: Int, item: Int) -> Bool {
        model == 0 ? (item * 7 + task) % 5 < 2 : (item * 3 + task) % 4 < 3
    }

    /// Items on which the two models differ, per task.
    static func expectedDisagreements(task: Int) -> Int {
        (0..<items).filter { correct(model: 0, task: task, item: $0) != correct(model: 1, task: task, item: $0) }.count
    }

    static func logEval(_ store: RunStore, name: String, model: Int) throws {
        let run = try store.createRun(kind: .eval, name: name, model: model == 0 ? "runs/base" : "runs/instruct", parent: nil)
        for (t, task) in tasks.enumerated() {
            var items: [EvalItem] = []
            for (i, q) in task.questions.enumerated() {
                let right = correct(model: model, task: t, item: i)
                let gold = q.choices[0]
                let predicted = right ? gold : q.choices[1 + (i % (q.choices.count - 1))]
                let doc: String
                if t == 0 {
                    doc = JSONText.object([("question", JSONText.string(q.question))] +
                                          q.choices.enumerated().map { ("choice\($0.offset)", JSONText.string($0.element)) })
                } else {
                    doc = JSONText.object([("sentence", JSONText.string(q.question)), ("option1", JSONText.string(q.choices[0])),
                                           ("option2", JSONText.string(q.choices[1]))])
                }
                items.append(EvalItem(task: task.name, itemIndex: i, doc: doc, prompt: q.question, prediction: predicted,
                                      target: gold, correct: right ? 1 : 0, metrics: #"{"acc": \#(right ? 1 : 0)}"#))
            }
            try store.saveEvalItems(items, run: run)
            let p = Double(items.filter { $0.correct == 1 }.count) / Double(items.count)
            let stderr = (p * (1 - p) / Double(items.count - 1)).squareRoot()
            try store.saveEvalResults([
                EvalResult(task: task.name, metric: "acc", value: p, stderr: stderr, n: items.count),
                EvalResult(task: task.name, metric: "acc_norm", value: min(1, p + 0.05), stderr: stderr, n: items.count),
            ], run: run)
        }
        try store.finish(run: run)
    }

    /// The whole workspace: pretrain-a, sft-b, eval-base, eval-sft (created in that order).
    static func makeStore(at workspace: URL) throws -> RunStore {
        let store = try RunStore.open(workspace: workspace)
        try logTraining(store, name: "pretrain-a", kind: .pretrain, steps: pretrainSteps, start: 10.5)
        try logTraining(store, name: "sft-b", kind: .sft, steps: sftSteps, start: 3.2, parent: "pretrain-a")
        try logEval(store, name: "eval-base", model: 0)
        try logEval(store, name: "eval-sft", model: 1)
        try logComparison(store, a: "eval-base", b: "eval-sft")
        return store
    }

    /// What `hayai compare eval-base eval-sft` stores (the workbench computes it; here it is written out).
    static func logComparison(_ store: RunStore, a: String, b: String) throws {
        var rows: [ComparisonRecord.TaskRow] = []
        for (t, task) in tasks.enumerated() {
            let right = (0...1).map { m in (0..<items).filter { correct(model: m, task: t, item: $0) }.count }
            let accA = Double(right[0]) / Double(items), accB = Double(right[1]) / Double(items)
            let differing = (0..<items).filter { correct(model: 0, task: t, item: $0) != correct(model: 1, task: t, item: $0) }
            let disagreements = differing.map { i -> ComparisonRecord.Item in
                let q = task.questions[i]
                func prediction(_ m: Int) -> String { correct(model: m, task: t, item: i) ? q.choices[0] : q.choices[1 + (i % (q.choices.count - 1))] }
                return ComparisonRecord.Item(index: i, question: q.question, a: prediction(0), b: prediction(1), gold: q.choices[0],
                                             aCorrect: correct(model: 0, task: t, item: i), bCorrect: correct(model: 1, task: t, item: i),
                                             choices: q.choices)
            }
            rows.append(ComparisonRecord.TaskRow(task: task.name, promptVersionA: nil, promptVersionB: nil, items: items, unpairedA: 0,
                                                 unpairedB: 0, metrics: [ComparisonRecord.MetricRow(metric: "acc", a: accA, b: accB,
                                                 difference: accB - accA, lower: accB - accA - 0.1, upper: accB - accA + 0.1, mcnemarP: 0.01)],
                                                 disagreements: disagreements))
        }
        let record = ComparisonRecord(a: a, b: b, modelA: "runs/base", modelB: "runs/instruct", tasks: rows)
        let run = try store.createRun(kind: .compare, name: "\(a)-vs-\(b)", config: try JSONText.encode(record), parent: a)
        try store.finish(run: run)
    }

    /// Deterministic noise in [0, 1).
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }
}
