// `hayai compare`: two eval runs (or two models, evaluated first) side by side, task by task, on the
// items both scored (Workbench's Comparison); the comparison is stored as a `compare` run.
import ArgumentParser
import Foundation
import Evaluation
import Inference
import RunStore
import Serving
import Workbench

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two eval runs, or two models, task by task.",
        discussion: """
            A and B are eval run names from the store, model paths (a Hugging Face folder or a .gguf file), or the addresses \
            of OpenAI-compatible servers (http://HOST:PORT, scored as `hayai eval --endpoint` does), which are then \
            evaluated on --tasks first. Items pair when both runs scored the same task item (same index, same document); both \
            columns, the 95% paired-bootstrap interval of B − A and McNemar's exact p (accuracy) are over the paired items \
            only, and the unpaired ones are counted. The comparison is stored as a compare run, which `hayai report` shows.
            """)

    @Argument(help: "Eval run name or model path (the baseline).")
    var a: String

    @Argument(help: "Eval run name or model path (compared against A).")
    var b: String

    @Option(name: .long, parsing: .upToNextOption, help: "Tasks to evaluate when A or B is a model; commas or spaces.")
    var tasks: [String] = []

    @Option(parsing: .unconditional, help: "With models: evaluate only the first N items of each task.")
    var limit: Int?

    @Option(help: "Name of the stored comparison (default: generated).")
    var name: String?

    @Option(help: "Workspace holding hayai.sqlite (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(help: "Folder of task files (default: the repository's evalsets/).")
    var evalsets: String?

    @Option(help: "Disagreeing items listed per task.")
    var show: Int = 10

    @OptionGroup var runtimeArguments: RuntimeArguments

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if show < 0 { throw ValidationError("--show must be at least 0 (got \(show))") }
    }

    func run() throws {
        let store = try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
        let runA = try resolve(a, store: store), runB = try resolve(b, store: store)
        let (comparison, stored) = try Comparison.makeAndStore(store: store, a: runA, b: runB, name: name)
        if json {
            print(String(decoding: try JSONEncoder.sorted.encode(comparison), as: UTF8.self))
        } else {
            print(comparison.text(show: show))
            print("stored as compare run \(stored.name) (hayai report \(runA.name) \(runB.name) \(stored.name))")
        }
    }

    /// A stored eval run, or a model evaluated now into a new eval run.
    func resolve(_ nameOrPath: String, store: RunStore) throws -> Run {
        if let run = try store.run(named: nameOrPath) {
            guard run.kind == .eval else { throw UserError("run \(nameOrPath) is a \(run.kind.rawValue) run, not an eval run") }
            return run
        }
        let served = nameOrPath.hasPrefix("http://") || nameOrPath.hasPrefix("https://")
        guard served || FileManager.default.fileExists(atPath: nameOrPath) else {
            throw UserError("\(nameOrPath): neither an eval run in the store nor a model path")
        }
        let names = tasks.flatMap { $0.split(separator: ",").map(String.init) }
        guard !names.isEmpty else { throw UserError("\(nameOrPath) is a model: give --tasks to evaluate it on") }
        let evalTasks = try names.map { try EvalSets.load($0, folder: evalsets) }
        if served {
            let endpoint = try EndpointModel(endpoint: nameOrPath)
            var config = EvalRunConfig(model: endpoint.model, tasks: names, limit: limit)
            config.endpoint = endpoint.baseURL
            let evalRun = try EvalRun.create(store: store, config: config, tasks: evalTasks, name: nil)
            _ = try EvalCommand.execute(evalRun, served: endpoint, skipBadLines: false, quiet: json)
            return evalRun.run
        }
        let evalRun = try EvalRun.create(store: store, config: EvalRunConfig(model: nameOrPath, tasks: names, limit: limit),
                                         tasks: evalTasks, name: nil)
        let model = try LocalLanguageModel(path: nameOrPath, runtime: runtimeArguments.runtime)
        _ = try EvalCommand.execute(evalRun, model: model, skipBadLines: false, quiet: json)
        return evalRun.run
    }
}
