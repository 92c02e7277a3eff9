// A stored eval run as lm-evaluation-harness 0.4 writes a run: results.json (results, groups,
// group_subtasks, configs, versions, n-shot, higher_is_better, n-samples, a `config` block with the
// model, its content hash, hayai's build and the settings, task_hashes) and, with samples, one
// samples_TASK.jsonl per task in its --log_samples shape. `hayai eval --output` and
// `hayai runs export --format lm-eval` both write through here, from the items in the store.
import Foundation
import Checkpoints
import Evaluation
import RunStore
import Tokenizers

public enum LMEvalExport {
    /// What was written: the results file and the samples files (empty without samples).
    public struct Written: Sendable {
        public var results: String
        public var samples: [String]
    }

    /// One task of the run with its stored items and their metrics.
    struct Scored {
        var key: String
        var task: EvalTask
        var items: [ItemResult]
        var metrics: [MetricResult]
        var numFewshot: Int
        var originalCount: Int
        var keyOrder: PythonText.KeyOrder
    }

    /// The tasks and groups of a stored eval run (task files found as `hayai eval` finds them).
    static func scored(store: RunStore, run: Run, evalsets: String?) throws -> (config: EvalRunConfig, tasks: [Scored], groups: [(EvalGroup, [String])]) {
        let config = try EvalRun.storedConfig(run)
        var tasks: [Scored] = []
        for name in config.tasks {
            for task in try EvalSets.loadTasks(name, folder: evalsets) where !tasks.contains(where: { $0.key == EvalRun.key(task) }) {
                let key = EvalRun.key(task)
                let items = try StoreSink.items(store: store, run: run, task: key)
                // The data file again, for its size and key order; a file gone since gives sorted keys and the stored count.
                let data = try? Dataset.load(path: task.dataFile, skipBadLines: true, textSplit: task.textSplit)
                tasks.append(Scored(key: key, task: task, items: items, metrics: Runner.aggregate(task, items),
                                    numFewshot: config.numFewshot ?? task.numFewshot, originalCount: data?.items.count ?? items.count,
                                    keyOrder: data?.keyOrder ?? PythonText.KeyOrder()))
            }
        }
        return (config, tasks, try EvalSets.groups(in: config.tasks, folder: evalsets))
    }

    /// Writes `resultsPath` and, when `logSamples`, samples_TASK.jsonl beside it.
    @discardableResult
    public static func write(store: RunStore, run: Run, resultsPath: String, logSamples: Bool, evalsets: String? = nil) throws -> Written {
        let (config, tasks, groups) = try scored(store: store, run: run, evalsets: evalsets)
        var samples: [String: [LMEvalFormat.Sample]] = [:]
        for t in tasks {
            samples[t.key] = try t.items.map { try LMEvalFormat.sample(t.task, item: $0, keyOrder: t.keyOrder) }
        }
        let document = resultsDocument(run: run, config: config, tasks: tasks, groups: groups, samples: samples)
        let folder = (resultsPath as NSString).deletingLastPathComponent
        if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        try write(PythonText.jsonDumps(document, indent: 2) + "\n", to: resultsPath)
        var written = Written(results: resultsPath, samples: [])
        if logSamples {
            for t in tasks {
                let path = (folder as NSString).appendingPathComponent("samples_\(t.key).jsonl")
                try write(samples[t.key, default: []].map { $0.line + "\n" }.joined(), to: path)
                written.samples.append(path)
            }
        }
        return written
    }

    static func write(_ text: String, to path: String) throws {
        do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw WorkbenchError.invalid("\(path): cannot write the lm-eval file (\(error.localizedDescription))")
        }
    }

    /// The results file's JSON.
    static func resultsDocument(run: Run, config: EvalRunConfig, tasks: [Scored], groups: [(EvalGroup, [String])],
                                samples: [String: [LMEvalFormat.Sample]]) -> JSONValue {
        var results: [String: JSONValue] = [:], groupResults: [String: JSONValue] = [:], groupSubtasks: [String: JSONValue] = [:]
        var configs: [String: JSONValue] = [:], versions: [String: JSONValue] = [:], nShot: [String: JSONValue] = [:]
        var higher: [String: JSONValue] = [:], nSamples: [String: JSONValue] = [:], taskHashes: [String: JSONValue] = [:]
        let inGroup = Set(groups.flatMap(\.1))
        var modelMetadata: [String: JSONValue] = ["pretrained": .string(config.model)]
        if let adapter = config.adapter { modelMetadata["adapter"] = .string(adapter) }
        for t in tasks {
            results[t.key] = LMEvalFormat.resultEntry(name: t.key, alias: inGroup.contains(t.key) ? " - \(t.key)" : t.key,
                                                      sampleCount: t.items.count, metrics: t.metrics)
            configs[t.key] = LMEvalFormat.config(t.task, numFewshot: t.numFewshot, extraMetadata: modelMetadata)
            versions[t.key] = LMEvalFormat.version(t.task.version)
            nShot[t.key] = .int(t.numFewshot)
            higher[t.key] = .object(Dictionary(uniqueKeysWithValues: t.task.metrics.map { ($0.name, JSONValue.bool($0.higherIsBetter)) }))
            nSamples[t.key] = .object(["original": .int(t.originalCount), "effective": .int(t.items.count)])
            taskHashes[t.key] = .string(LMEvalFormat.taskHash(samples[t.key] ?? []))
        }
        for (group, keys) in groups {
            let members = keys.compactMap { k in tasks.first { $0.key == k } }
            let metrics = LMEvalFormat.groupMetrics(group, members: members.map { ($0.metrics, $0.items.count) })
            let entry = LMEvalFormat.resultEntry(name: group.name, sampleCount: members.reduce(0) { $0 + $1.items.count }, metrics: metrics)
            results[group.name] = entry
            groupResults[group.name] = entry
            groupSubtasks[group.name] = .array(keys.map { .string($0) })
            versions[group.name] = group.version.map(LMEvalFormat.version) ?? .string("N/A")
            higher[group.name] = .object(Dictionary(uniqueKeysWithValues: metrics.map { ($0.name, JSONValue.bool($0.higherIsBetter)) }))
        }
        let build = BuildInfo.current
        var settings: [String: JSONValue] = [
            "model": .string("hayai"), "model_args": .object(modelMetadata),
            "model_num_parameters": parameterCount(config.model).map { .int($0) } ?? .null,
            "model_sha": .string(config.modelHash ?? ""), "model_hash": config.modelHash.map { .string($0) } ?? .null,
            "batch_size": .string("1"), "batch_sizes": .array([]), "device": .string("cpu"), "use_cache": .null,
            "limit": config.limit.map { .int($0) } ?? .null, "num_fewshot": config.numFewshot.map { .int($0) } ?? .null,
            // hayai bootstraps mcc and macro F1 with 100 resamples (lm-eval's bootstrap_iters is 100000).
            "bootstrap_iters": .int(Metrics.bootstrapIterations), "gen_kwargs": .object([:]),
            "random_seed": .null, "numpy_seed": .null, "torch_seed": .null,
            "fewshot_seed": tasks.first.map { .int(Int(truncatingIfNeeded: $0.task.fewshotSeed)) } ?? .null,
            "reuse_context": .bool(config.reuseContext), "hayai_version": .string(build.version), "hayai_build": .string(build.line),
            "run": .string(run.name),
        ]
        if let adapter = config.adapter { settings["adapter"] = .string(adapter) }
        if let hash = config.adapterHash { settings["adapter_hash"] = .string(hash) }
        let name = (config.model as NSString).lastPathComponent
        var document: [String: JSONValue] = [
            "results": .object(results), "group_subtasks": .object(groupSubtasks), "configs": .object(configs),
            "versions": .object(versions), "n-shot": .object(nShot), "higher_is_better": .object(higher),
            "n-samples": .object(nSamples), "config": .object(settings),
            "git_hash": build.revision.map { .string($0) } ?? .null, "upper_git_hash": .null,
            "date": .double(run.startedAt.timeIntervalSince1970), "task_hashes": .object(taskHashes),
            "model_source": .string("hayai"), "model_name": .string(config.model), "model_name_sanitized": .string(sanitized(name)),
            "system_instruction": .null, "system_instruction_sha": .null, "fewshot_as_multiturn": .null,
            "chat_template": .null, "chat_template_sha": .null,
            "total_evaluation_time_seconds": .string(String(run.duration ?? 0)), "hayai_version": .string(build.version),
        ]
        if !groupResults.isEmpty { document["groups"] = .object(groupResults) }
        for (k, v) in modelFields(config.model) { document[k] = v }
        return .object(document)
    }

    /// What lm-eval's HF model reports about the model: its special tokens as [text, "id"] (the pad token
    /// falling back to unk, then eos, as HFLM does), eot_token_id (eos) and max_length (the model's
    /// positions). Empty when the model's files cannot be read (a run exported after its model moved).
    static func modelFields(_ path: String) -> [String: JSONValue] {
        guard let tokenizer = try? TokenizerLoader.load(path: path) else { return [:] }
        func token(_ id: Int?) -> JSONValue? {
            guard let id, let text = tokenizer.tokenString(id) else { return nil }
            return .array([.string(text), .string(String(id))])
        }
        var pad: Int?, unk: Int?
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            let config = try? TokenizerConfig.load(path: (path as NSString).appendingPathComponent("tokenizer_config.json"))
            pad = config?.pad_token.flatMap { tokenizer.tokenID($0.content) }
            unk = config?.unk_token.flatMap { tokenizer.tokenID($0.content) }
        } else if let gguf = try? GGUFFile(path: path) {
            pad = gguf.int("tokenizer.ggml.padding_token_id"); unk = gguf.int("tokenizer.ggml.unknown_token_id")
        }
        let eos = tokenizer.eosTokenIDs.first
        var fields: [String: JSONValue] = [:]
        fields["tokenizer_pad_token"] = token(pad ?? unk ?? eos)
        fields["tokenizer_eos_token"] = token(eos)
        fields["tokenizer_bos_token"] = token(tokenizer.bosTokenID)
        fields["eot_token_id"] = eos.map { .int($0) }
        fields["max_length"] = modelConfig(path).map { .int($0.maxPositions) }
        return fields
    }

    /// lm-eval's model_name_sanitized: `/` and other unsafe characters as `__`.
    static func sanitized(_ name: String) -> String {
        name.replacingOccurrences(of: "/", with: "__").replacingOccurrences(of: ":", with: "__")
    }

    /// Every weight the model's config plans (norms and biases included; tied embeddings once), as
    /// Hugging Face's num_parameters() counts them; nil when the config cannot be read.
    static func parameterCount(_ path: String) -> Int? {
        modelConfig(path).map { DecoderPlan(config: $0).weights.reduce(0) { $0 + $1.count } }
    }

    /// The model's config (a Hugging Face folder's config.json or a GGUF's metadata), nil when unreadable.
    static func modelConfig(_ path: String) -> ModelConfig? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return nil }
        if isDir.boolValue {
            let file = (path as NSString).appendingPathComponent("config.json")
            return try? HFConfig.load(path: file).resolve(path: file)
        }
        return try? GGUFFile(path: path).modelConfig()
    }
}
