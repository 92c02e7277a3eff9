// An eval run: tasks scored on one model into one run of the store, item by item, so it can stop at
// any point (Ctrl-C, a crash) and resume with `--resume NAME` alone. A resume takes every setting
// from the stored run and refuses to go on when the model (its content hash), a task's version or
// few-shot settings, or the item limit differ from what the stored items were scored with.
import Foundation
import Evaluation
import Inference
import Kernels
import RunStore

/// What an eval run was asked to do, stored as the run's config.
public struct EvalRunConfig: Codable, Equatable, Sendable {
    public var model: String
    /// ModelIdentity.contentHash of the model when the run started.
    public var modelHash: String?
    /// A PEFT LoRA adapter folder run beside the model's weights, and its content hash.
    public var adapter: String?
    public var adapterHash: String?
    /// Tasks as the user named them (file names, `task:` names or paths).
    public var tasks: [String]
    public var limit: Int?
    public var numFewshot: Int?
    public var reuseContext: Bool
    /// Per stored task key: what its scores depend on (version, prompt version, shots, few-shot seed).
    public var taskIdentities: [String: TaskIdentity]?
    /// An OpenAI-compatible server the model was scored through (`model` is then the name it serves).
    public var endpoint: String?
    /// Whose tokenizer split the text: "server" for an endpoint (nil: the model's own, here).
    public var tokenization: String?

    public init(model: String, modelHash: String? = nil, adapter: String? = nil, tasks: [String], limit: Int? = nil,
                numFewshot: Int? = nil, reuseContext: Bool = true, taskIdentities: [String: TaskIdentity]? = nil) {
        self.model = model; self.modelHash = modelHash; self.adapter = adapter; self.tasks = tasks; self.limit = limit
        self.numFewshot = numFewshot; self.reuseContext = reuseContext; self.taskIdentities = taskIdentities
    }

    enum CodingKeys: String, CodingKey {
        case model, modelHash = "model_hash", adapter, adapterHash = "adapter_hash", tasks, limit, numFewshot, reuseContext, taskIdentities = "task_identities"
        case endpoint, tokenization
    }
}

/// The settings of one task that its stored items depend on.
public struct TaskIdentity: Codable, Equatable, Sendable, CustomStringConvertible {
    public var version: String
    public var promptVersion: String?
    public var numFewshot: Int
    public var fewshotSeed: UInt64

    public init(task: EvalTask, numFewshot: Int?) {
        version = task.version; promptVersion = task.promptVersion
        self.numFewshot = numFewshot ?? task.numFewshot; fewshotSeed = task.fewshotSeed
    }

    public var description: String {
        "version \(version)" + (promptVersion.map { ", prompt \($0)" } ?? "") + ", \(numFewshot)-shot, seed \(fewshotSeed)"
    }
}

/// An eval stopped by Ctrl-C: its items so far are stored and `--resume` continues it.
public struct EvalInterrupted: Error, CustomStringConvertible {
    public var run: String
    public var storedItems: Int
    public var description: String {
        "interrupted: \(storedItems) items of eval run \(run) are stored; continue with: hayai eval --resume \(run)"
    }
}

public final class EvalRun {
    public let recorder: RunRecorder
    public let config: EvalRunConfig
    public let tasks: [EvalTask]
    public var store: RunStore { recorder.store }
    public var run: Run { recorder.run }

    init(recorder: RunRecorder, config: EvalRunConfig, tasks: [EvalTask]) {
        self.recorder = recorder; self.config = config; self.tasks = tasks
    }

    /// The key a task's results are stored under: one task in several prompt versions (jcommonsenseqa
    /// 0.2 and 0.3) is several stored tasks.
    public static func key(_ task: EvalTask) -> String { task.promptVersion.map { "\(task.name)-\($0)" } ?? task.name }

    /// A new run of `tasks` on the model at `config.model` (its content hash and the tasks' identities are added).
    public static func create(store: RunStore, config: EvalRunConfig, tasks: [EvalTask], name: String?) throws -> EvalRun {
        var config = config
        // A served model has no files here to hash; its run says where it was served and who tokenized.
        if config.endpoint != nil { config.tokenization = "server" }
        config.modelHash = config.endpoint == nil ? try ModelIdentity.contentHash(path: config.model) : nil
        config.adapterHash = try config.adapter.map { try ModelIdentity.contentHash(path: $0) }
        config.taskIdentities = Dictionary(tasks.map { (key($0), TaskIdentity(task: $0, numFewshot: config.numFewshot)) },
                                           uniquingKeysWith: { a, _ in a })
        let recorder = try RunRecorder.create(store: store, kind: .eval, name: name, model: config.model, config: config)
        return EvalRun(recorder: recorder, config: config, tasks: tasks)
    }

    /// The config an eval run was stored with; a run of another kind is refused.
    static func storedConfig(_ stored: Run) throws -> EvalRunConfig {
        guard stored.kind == .eval else { throw WorkbenchError.wrongKind(run: stored.name, kind: stored.kind.rawValue, expected: "eval") }
        do { return try JSONDecoder().decode(EvalRunConfig.self, from: Data(stored.config.utf8)) } catch {
            throw WorkbenchError.invalid("run \(stored.name): its stored config is not an eval config (\(error))")
        }
    }

    /// What a user may give again with `--resume`: each given value must equal the stored one.
    public struct Given: Sendable {
        public var model: String?
        public var adapter: String?
        public var tasks: [String]?
        public var limit: Int?
        public var numFewshot: Int?
        public var reuseContext: Bool?
        public init(model: String? = nil, adapter: String? = nil, tasks: [String]? = nil, limit: Int? = nil, numFewshot: Int? = nil,
                    reuseContext: Bool? = nil) {
            self.model = model; self.adapter = adapter; self.tasks = tasks; self.limit = limit; self.numFewshot = numFewshot; self.reuseContext = reuseContext
        }
    }

    /// Continues the stored eval run `name`. `loadTask` finds a task by the name it was stored with.
    public static func resume(store: RunStore, name: String, given: Given = Given(),
                              loadTask: (String) throws -> EvalTask) throws -> EvalRun {
        try resume(store: store, name: name, given: given, tasks: { [try loadTask($0)] })
    }

    /// The same, where one stored name may stand for several tasks (a group).
    public static func resume(store: RunStore, name: String, given: Given = Given(),
                              tasks loadTasks: (String) throws -> [EvalTask]) throws -> EvalRun {
        let stored = try store.requireRun(named: name)
        let config = try storedConfig(stored)
        func check<T: Equatable>(_ what: String, _ storedValue: T, _ givenValue: T?, _ show: (T) -> String) throws {
            if let givenValue, givenValue != storedValue {
                throw WorkbenchError.resumeMismatch(run: name, what: what, stored: show(storedValue), given: show(givenValue))
            }
        }
        let none = "none"
        if let m = given.model, URL(fileURLWithPath: m).standardizedFileURL != URL(fileURLWithPath: config.model).standardizedFileURL {
            throw WorkbenchError.resumeMismatch(run: name, what: "model", stored: config.model, given: m)
        }
        if let a = given.adapter, URL(fileURLWithPath: a).standardizedFileURL != config.adapter.map({ URL(fileURLWithPath: $0).standardizedFileURL }) {
            throw WorkbenchError.resumeMismatch(run: name, what: "--adapter", stored: config.adapter ?? none, given: a)
        }
        try check("tasks", config.tasks, given.tasks) { $0.joined(separator: ",") }
        try check("--limit", config.limit, given.limit.map { Optional($0) }) { $0.map(String.init) ?? none }
        try check("--num-fewshot", config.numFewshot, given.numFewshot.map { Optional($0) }) { $0.map(String.init) ?? none }
        try check("context reuse", config.reuseContext, given.reuseContext) { $0 ? "on" : "off (--no-reuse)" }

        // A served model (config.endpoint) has no files here: the command reconnects to the stored endpoint.
        if config.endpoint == nil {
            let hash = try ModelIdentity.contentHash(path: config.model)
            if let storedHash = config.modelHash, storedHash != hash {
                throw WorkbenchError.resumeMismatch(run: name, what: "model \(config.model) (content hash)", stored: storedHash, given: hash)
            }
        }
        if let adapter = config.adapter, let storedHash = config.adapterHash {
            let now = try ModelIdentity.contentHash(path: adapter)
            if now != storedHash {
                throw WorkbenchError.resumeMismatch(run: name, what: "adapter \(adapter) (content hash)", stored: storedHash, given: now)
            }
        }
        let tasks = try config.tasks.flatMap(loadTasks)
        for task in tasks {
            let k = key(task), now = TaskIdentity(task: task, numFewshot: config.numFewshot)
            if let was = config.taskIdentities?[k], was != now {
                throw WorkbenchError.resumeMismatch(run: name, what: "task \(k)", stored: was.description, given: now.description)
            }
        }
        return EvalRun(recorder: try RunRecorder.resume(store: store, run: stored), config: config, tasks: tasks)
    }

    /// Called with (task key, progress) after each item, and with each task's result when it is done.
    public struct Callbacks {
        public var progress: ((String, Evaluation.Progress) -> Void)?
        public var taskDone: ((TaskResult) -> Void)?
        public init(progress: ((String, Evaluation.Progress) -> Void)? = nil, taskDone: ((TaskResult) -> Void)? = nil) {
            self.progress = progress; self.taskDone = taskDone
        }
    }

    /// Scores every task on `model` (items already stored are not scored again) and finishes the run.
    /// Ctrl-C ends the run as interrupted and throws `EvalInterrupted`; another error marks it failed.
    public func run(model: LanguageModel, skipBadLines: Bool = false, callbacks: Callbacks = Callbacks()) throws -> [TaskResult] {
        try run(runner: Runner(model: model, options: runOptions(skipBadLines)), callbacks: callbacks)
    }

    /// The same for a model served elsewhere (`config.endpoint`), scored through text.
    public func run(served: ServedModel, skipBadLines: Bool = false, callbacks: Callbacks = Callbacks()) throws -> [TaskResult] {
        try run(runner: Runner(served: served, options: runOptions(skipBadLines)), callbacks: callbacks)
    }

    private func runOptions(_ skipBadLines: Bool) -> RunOptions {
        var options = RunOptions(limit: config.limit, reuseContext: config.reuseContext, numFewshot: config.numFewshot)
        options.skipBadLines = skipBadLines
        return options
    }

    private func run(runner: Runner, callbacks: Callbacks) throws -> [TaskResult] {
        var results: [TaskResult] = []
        do {
            try recorder.recording {
                for task in tasks {
                    let key = Self.key(task)
                    let sink = try StoreSink(store: store, run: run, task: key)
                    var result = try runner.run(task, sink: sink) { callbacks.progress?(key, $0) }
                    result.task = key
                    try store.saveEvalResults(result.metrics.map {
                        EvalResult(task: key, taskVersion: result.version, promptVersion: result.promptVersion,
                                   numFewshot: result.numFewshot, fewshotSeed: Int(truncatingIfNeeded: result.fewshotSeed),
                                   metric: $0.name, value: $0.value, stderr: $0.stderr, n: result.itemCount)
                    }, run: run)
                    callbacks.taskDone?(result)
                    results.append(result)
                }
            }
        } catch is Interrupted {
            let stored = try tasks.reduce(0) { $0 + (try store.evalItems(run: run, task: Self.key($1)).count) }
            throw EvalInterrupted(run: run.name, storedItems: stored)
        }
        var summary: [String: Double] = [:]
        for r in results {
            for m in r.metrics { summary["\(r.task)/\(m.name)"] = m.value }
            // Throughput of what this session scored (a resumed run: of the items scored since the resume).
            summary["\(r.task)/items_per_second"] = r.itemsPerSecond
            summary["\(r.task)/tokens_per_second"] = r.tokensPerSecond
        }
        try recorder.finish(.completed, summary: summary)
        return results
    }
}

/// Per-item results into the store as they are produced; what is stored already is not scored again.
public final class StoreSink: ResultSink {
    let store: RunStore, run: Run, task: String
    public private(set) var completedItems: [Int: ItemResult] = [:]

    public init(store: RunStore, run: Run, task: String) throws {
        self.store = store; self.run = run; self.task = task
        for item in try store.evalItems(run: run, task: task) {
            if let text = item.scores, let result = try? JSONDecoder().decode(ItemResult.self, from: Data(text.utf8)) {
                completedItems[item.itemIndex] = result
            }
        }
    }

    public func record(_ item: ItemResult) throws {
        let encoder = JSONEncoder.sorted
        try store.saveEvalItem(EvalItem(
            task: task, itemIndex: item.index, doc: item.doc.description, prompt: item.prompt, prediction: item.prediction,
            target: item.target, scores: String(decoding: try encoder.encode(item), as: UTF8.self),
            correct: item.correct.map { $0 ? 1 : 0 }, metrics: String(decoding: try encoder.encode(item.metrics), as: UTF8.self)), run: run)
        completedItems[item.index] = item
    }

    /// A run's stored items for a task, as the scorer produced them.
    public static func items(store: RunStore, run: Run, task: String) throws -> [ItemResult] {
        try StoreSink(store: store, run: run, task: task).completedItems.values.sorted { $0.index < $1.index }
    }
}

/// Finding task files: TaskCatalog's search paths, with an explicit --evalsets folder first and the
/// repository's evalsets/ last.
public enum EvalSets {
    static func searchPaths(_ explicit: String?) -> [String] {
        var paths = TaskCatalog.searchPaths()
        if let explicit { paths.insert(explicit, at: 0) }
        if let repository = Repository.folder("evalsets"), !paths.contains(repository) { paths.append(repository) }
        return paths
    }

    public static func load(_ nameOrPath: String, folder explicit: String? = nil) throws -> EvalTask {
        try TaskCatalog.load(nameOrPath, searchPaths: searchPaths(explicit))
    }

    /// The group of that name (evalsets/groups/NAME.yaml, or a group file's `group:` name); nil for none.
    public static func group(_ name: String, folder explicit: String? = nil) throws -> EvalGroup? {
        try TaskCatalog.groupPath(for: name, searchPaths: searchPaths(explicit)).map { try EvalGroup.load(path: $0) }
    }

    /// The groups among `names` (as `--tasks` gave them), each with its members' stored task keys.
    public static func groups(in names: [String], folder explicit: String? = nil) throws -> [(EvalGroup, [String])] {
        try names.compactMap { name in
            guard let group = try group(name, folder: explicit) else { return nil }
            return (group, try group.tasks.map { EvalRun.key(try load($0, folder: explicit)) })
        }
    }

    /// A task, or every task of a group, as `--tasks NAME` means it.
    public static func loadTasks(_ name: String, folder explicit: String? = nil) throws -> [EvalTask] {
        if let group = try group(name, folder: explicit) { return try group.tasks.map { try load($0, folder: explicit) } }
        return [try load(name, folder: explicit)]
    }
}
