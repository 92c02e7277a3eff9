// `hayai eval`: score a model on evalsets and keep every item and score in the run store (the run
// itself is Workbench's EvalRun; this parses, calls it and prints).
import ArgumentParser
import Foundation
import Evaluation
import Inference
import Kernels
import RunStore
import Serving
import Workbench

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model on evaluation tasks.",
        discussion: """
            TASKS are names of files in evalsets/ (jcommonsenseqa-0.2, xwinograd-ja, hayai-mini-en, ...), a task's own name \
            (xwinograd_en), paths to task YAML files, or groups (evalsets/groups/NAME.yaml: jglue-base, jglue-instruct, \
            hayai-mini, ...; a group with aggregate_metric_list gets lm-eval's size-weighted score). --output writes \
            lm-evaluation-harness's results.json shape (--log-samples adds its per-item samples files). Results and every item's output go to the run store (hayai runs show \
            NAME). Ctrl-C stops the run with its items kept: `hayai eval --resume NAME` continues it with the model, tasks and \
            settings it was started with, and refuses when the model's content, a task's version or the limit changed. Data \
            sets the repository does not ship are read from $HAYAI_DATA (see each task file's `download`).
            """)

    @Argument(help: "A Hugging Face model folder or a .gguf file (with --resume: taken from the stored run).")
    var model: String?

    @OptionGroup var runtimeArguments: RuntimeArguments

    @Option(help: ArgumentHelp("A PEFT LoRA adapter folder run beside the model's weights (with --resume: taken from the stored run).",
                               valueName: "dir"))
    var adapter: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Tasks (names in evalsets/ or YAML paths); commas or spaces.")
    var tasks: [String] = []

    @Option(parsing: .unconditional, help: "Evaluate only the first N items of each task.")
    var limit: Int?

    @Option(help: "Override each task's number of few-shot examples.")
    var numFewshot: Int?

    @Option(help: "Name of the eval run (default: generated).")
    var name: String?

    @Option(help: "Continue the eval run of this name (everything else comes from the stored run).")
    var resume: String?

    @Option(help: "Workspace holding hayai.sqlite (default: $HAYAI_HOME or ./hayai-runs).")
    var home: String?

    @Option(help: "Folder of task files (default: the repository's evalsets/).")
    var evalsets: String?

    @Flag(help: "Score each choice with its context recomputed (no KV reuse; for benchmarks).")
    var noReuse = false

    @Flag(help: "Skip malformed lines in the data files (counted) instead of stopping.")
    var skipBadLines = false

    @Flag(help: "Print the results as JSON.")
    var json = false

    @Option(help: ArgumentHelp("Also write the results as lm-evaluation-harness 0.4 writes results.json.", valueName: "file"))
    var output: String?

    @Flag(help: "With --output: one samples_TASK.jsonl per task beside it, in lm-eval's --log_samples shape.")
    var logSamples = false

    @OptionGroup var endpoint: EndpointOptions

    func validate() throws {
        try endpoint.validate(model: model, adapter: adapter, runtime: runtimeArguments)
        if resume == nil {
            guard model != nil || endpoint.url != nil else {
                throw ValidationError("give a model (a Hugging Face folder or a .gguf file), --endpoint URL, or --resume RUN")
            }
            guard !taskNames.isEmpty else { throw ValidationError("give at least one task: --tasks NAME[,NAME...]") }
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
        if let numFewshot, numFewshot < 0 { throw ValidationError("--num-fewshot must be at least 0 (got \(numFewshot))") }
        if name != nil && resume != nil { throw ValidationError("--name and --resume cannot be used together") }
        if logSamples && output == nil { throw ValidationError("--log-samples writes beside the results file: give --output FILE too") }
        if endpoint.url != nil && resume != nil { throw ValidationError("--resume takes the endpoint from the stored run: drop --endpoint") }
        if endpoint.url != nil && noReuse { throw ValidationError("--no-reuse is about this machine's KV cache; the endpoint's server keeps its own") }
    }

    var taskNames: [String] { tasks.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty } }

    func run() throws {
        let store = try RunStore.open(workspace: home.map { URL(fileURLWithPath: $0) })
        let evalRun: EvalRun
        if let resume {
            let given = EvalRun.Given(model: model, adapter: adapter, tasks: taskNames.isEmpty ? nil : taskNames, limit: limit,
                                      numFewshot: numFewshot, reuseContext: noReuse ? false : nil)
            evalRun = try EvalRun.resume(store: store, name: resume, given: given, tasks: { try EvalSets.loadTasks($0, folder: evalsets) })
        } else {
            let evalTasks = try taskNames.flatMap { try EvalSets.loadTasks($0, folder: evalsets) }
            let served = try endpoint.url.map { try EndpointModel(endpoint: $0, model: endpoint.model) }
            var config = EvalRunConfig(model: served?.model ?? model!, adapter: adapter, tasks: taskNames, limit: limit, numFewshot: numFewshot,
                                       reuseContext: !noReuse)
            config.endpoint = served?.baseURL
            evalRun = try EvalRun.create(store: store, config: config, tasks: evalTasks, name: name)
        }
        let results: [TaskResult]
        if let url = evalRun.config.endpoint {
            let served = try EndpointModel(endpoint: url, model: evalRun.config.model)
            results = try Self.execute(evalRun, served: served, skipBadLines: skipBadLines, quiet: json)
        } else {
            let lm = try LocalLanguageModel(path: evalRun.config.model, adapter: evalRun.config.adapter, runtime: runtimeArguments.runtime)
            results = try Self.execute(evalRun, model: lm, skipBadLines: skipBadLines, quiet: json)
        }
        if json {
            let data = try JSONEncoder.sorted.encode(results)
            print("{\"run\":\(JSON.string(evalRun.run.name)),\"tasks\":\(String(decoding: data, as: UTF8.self))}")
        } else {
            print(EvalTable.render(results, groups: try EvalSets.groups(in: evalRun.config.tasks, folder: evalsets)))
            print("stored as eval run \(evalRun.run.name) (hayai runs show \(evalRun.run.name))")
        }
        if let output {
            let written = try LMEvalExport.write(store: store, run: try store.requireRun(named: evalRun.run.name), resultsPath: output,
                                                 logSamples: logSamples, evalsets: evalsets)
            CLI.printError("lm-eval results: \(([written.results] + written.samples).joined(separator: ", "))")
        }
    }

    /// Runs `evalRun` with progress (Workbench's); Ctrl-C says how to resume and exits 130.
    static func execute(_ evalRun: EvalRun, model: LanguageModel, skipBadLines: Bool, quiet: Bool) throws -> [TaskResult] {
        do {
            return try evalRun.runShowingProgress(model: model, skipBadLines: skipBadLines, quiet: quiet)
        } catch let stopped as EvalInterrupted {
            CLI.printError("\n\(stopped)")
            throw ExitCode(130)
        }
    }

    /// The same for a model served elsewhere.
    static func execute(_ evalRun: EvalRun, served: ServedModel, skipBadLines: Bool, quiet: Bool) throws -> [TaskResult] {
        do {
            return try evalRun.runShowingProgress(served: served, skipBadLines: skipBadLines, quiet: quiet)
        } catch let stopped as EvalInterrupted {
            CLI.printError("\n\(stopped)")
            throw ExitCode(130)
        }
    }
}
