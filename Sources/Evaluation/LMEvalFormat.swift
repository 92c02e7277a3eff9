// lm-evaluation-harness 0.4's output shapes, built from hayai's items and task files: a results
// file's per-task pieces (`results`, `configs`, `versions`, `n-shot`, `higher_is_better`,
// `n-samples`, groups) and `--log_samples` lines (doc_id, doc, target, arguments, resps,
// filtered_resps, per-metric values, and the sha256 doc/prompt/target hashes as `hash_string`
// computes them in evaluator.py). Workbench's LMEvalExport adds the model and run settings and writes files.
import Foundation

public enum LMEvalFormat {
    /// hayai's task-file keys lm-eval does not know; `configs` keeps them under `metadata`.
    static let hayaiKeys = ["prompt_version", "download", "data_file", "fewshot_data_file", "multiple_inputs", "tokenization", "text_split"]

    /// What lm-eval writes for a metric's value key: `acc,none` (hayai's tasks have the filter `none`).
    public static func valueKey(_ metric: String) -> String { "\(metric),none" }
    public static func stderrKey(_ metric: String) -> String { "\(metric)_stderr,none" }

    /// A version as lm-eval writes it: the YAML number (1.0), or the text when it is not one.
    public static func version(_ text: String) -> JSONValue { Double(text).map { .double($0) } ?? .string(text) }

    /// The task's config as lm-eval's TaskConfig dumps it: the file's keys with lm-eval's defaults filled in,
    /// hayai's own keys (and `extraMetadata`, e.g. the model) under `metadata`.
    public static func config(_ task: EvalTask, numFewshot: Int, extraMetadata: [String: JSONValue] = [:]) -> JSONValue {
        var c = task.fileConfig
        var metadata: [String: JSONValue] = [:]
        if case .object(let m)? = c["metadata"] { metadata = m }
        for key in hayaiKeys { if let v = c.removeValue(forKey: key) { metadata[key] = v } }
        metadata["version"] = metadata["version"] ?? version(task.version)
        if !task.file.isEmpty { metadata["config_source"] = .string((task.file as NSString).lastPathComponent) }
        for (k, v) in extraMetadata { metadata[k] = v }

        c["task"] = .string(task.name)
        if c["dataset_path"] == nil {
            c["dataset_path"] = .string("json")
            c["dataset_kwargs"] = .object(["data_files": .object(["test": .string(task.dataFile)])])
            c["test_split"] = .string("test")
        }
        c["output_type"] = .string(task.outputType.rawValue)
        c["unsafe_code"] = c["unsafe_code"] ?? .bool(false)
        c["description"] = c["description"] ?? .string("")
        c["target_delimiter"] = .string(task.targetDelimiter)
        c["fewshot_delimiter"] = .string(task.fewshotDelimiter)
        c["num_fewshot"] = .int(numFewshot)
        c["repeats"] = c["repeats"] ?? .int(1)
        c["should_decontaminate"] = c["should_decontaminate"] ?? .bool(false)
        var fewshot: [String: JSONValue] = [
            "sampler": .string("default"), "split": c["fewshot_split"] ?? .null, "process_docs": .null, "fewshot_indices": .null,
            "samples": .null, "doc_to_text": c["doc_to_text"] ?? .null, "doc_to_choice": c["doc_to_choice"] ?? .null,
            "doc_to_target": c["doc_to_target"] ?? .null, "gen_prefix": .null, "fewshot_delimiter": .string(task.fewshotDelimiter),
            "target_delimiter": .string(task.targetDelimiter),
        ]
        if case .object(let given)? = c["fewshot_config"] { for (k, v) in given { fewshot[k] = v } }
        c["fewshot_config"] = .object(fewshot)
        c["metric_list"] = .array(task.metrics.map { m in
            var entry: [String: JSONValue] = ["metric": .string(m.name), "aggregation": .string("mean"), "higher_is_better": .bool(m.higherIsBetter)]
            if m.ignoreCase { entry["ignore_case"] = .bool(true) }
            if m.ignorePunctuation { entry["ignore_punctuation"] = .bool(true) }
            if !m.regexesToIgnore.isEmpty { entry["regexes_to_ignore"] = .array(m.regexesToIgnore.map { .string($0) }) }
            return .object(entry)
        })
        if task.outputType == .generateUntil { c["generation_kwargs"] = .object(generationKwargs(task)) }
        c["metadata"] = .object(metadata)
        return .object(c)
    }

    static func generationKwargs(_ task: EvalTask) -> [String: JSONValue] {
        ["until": .array(task.until.map { .string($0) }), "do_sample": .bool(false), "temperature": .double(0),
         "max_gen_toks": task.maxGenTokens.map { .int($0) } ?? .string("dynamic")]
    }

    /// A task's entry of `results` (and of `groups` for a group): name, alias, sample_len, metrics with stderr.
    public static func resultEntry(name: String, alias: String? = nil, sampleCount: Int, metrics: [MetricResult]) -> JSONValue {
        var entry: [String: JSONValue] = ["name": .string(name), "alias": .string(alias ?? name), "sample_len": .int(sampleCount)]
        for m in metrics {
            entry[valueKey(m.name)] = .double(m.value)
            entry[stderrKey(m.name)] = m.stderr.map { .double($0) } ?? .string("N/A")
        }
        return .object(entry)
    }

    /// The group's metrics from its members' results, as lm-eval's consolidate_group_results computes them.
    public static func groupMetrics(_ group: EvalGroup, members: [(metrics: [MetricResult], size: Int)]) -> [MetricResult] {
        group.aggregate.compactMap { agg in
            let parts = members.compactMap { m in
                m.metrics.first { $0.name == agg.metric }.map { EvalGroup.Member(value: $0.value, stderr: $0.stderr, size: m.size) }
            }
            guard !parts.isEmpty else { return nil }
            let (value, stderr) = EvalGroup.aggregate(parts, weightBySize: agg.weightBySize)
            let higher = members.lazy.compactMap { $0.metrics.first { $0.name == agg.metric }?.higherIsBetter }.first ?? true
            return MetricResult(name: agg.metric, value: value, stderr: stderr, higherIsBetter: higher)
        }
    }

    /// One logged sample.
    public struct Sample {
        /// The line for samples_TASK.jsonl.
        public var line: String
        public var docHash: String
        public var promptHash: String
        public var targetHash: String
    }

    /// An item as lm-eval logs it; `keyOrder` is the data file's (PythonText.KeyOrder.scan).
    public static func sample(_ task: EvalTask, item: ItemResult, keyOrder: PythonText.KeyOrder) throws -> Sample {
        let doc = item.doc
        var target = PythonText.str(.string(item.target))
        if let spec = task.docToTarget { target = PythonText.str(try task.value(spec, doc, item: item.index, key: "doc_to_target", fieldRequired: false)) }
        // (context, continuation-or-generation-kwargs) per request, and the responses.
        var arguments: [[JSONValue]] = []
        var resps: [JSONValue] = [], filtered: [JSONValue] = []
        var perMetric: [(String, JSONValue)] = []
        switch task.outputType {
        case .multipleChoice:
            let choices = item.choices.map(\.text)
            if task.multipleInputs, let gold = item.gold, choices.indices.contains(gold) {
                let prefix = String(String.UnicodeScalarView(item.prompt.unicodeScalars.dropLast(choices[gold].unicodeScalars.count)))
                let continuation = task.targetDelimiter + target
                arguments = choices.map { [.string(prefix + $0), .string(continuation)] }
            } else {
                arguments = choices.map { [.string(item.prompt), .string(task.targetDelimiter + $0)] }
            }
            for c in item.choices {
                let pair: JSONValue = .array([.string(PythonText.float(c.logLikelihood)), .string(c.isGreedy ? "True" : "False")])
                resps.append(.array([pair])); filtered.append(pair)
            }
            for m in task.metrics {
                if let v = item.metrics[m.name] { perMetric.append((m.name, .double(v))) }
                else if ["mcc", "macro_f1", "balanced_acc"].contains(m.name), let g = item.gold, let p = item.predicted {
                    perMetric.append((m.name, .array([.int(g), .int(p)])))
                }
            }
        case .generateUntil:
            arguments = [[.string(item.prompt), .object(generationKwargs(task))]]
            resps = [.array([.string(item.prediction)])]; filtered = [.string(item.prediction)]
            for m in task.metrics { if let v = item.metrics[m.name] { perMetric.append((m.name, .double(v))) } }
        case .loglikelihoodRolling:
            let ll = item.metrics["loglikelihood"] ?? .nan
            arguments = [[.string(item.target)]]
            resps = [.array([.string(PythonText.float(ll))])]; filtered = [.string(PythonText.float(ll))]
            for m in task.metrics {
                let unit = m.name == "word_perplexity" ? item.metrics["words"] : item.metrics["bytes"]
                perMetric.append((m.name, .array([.double(ll), .int(Int(unit ?? 0))])))
            }
        }
        let firstContext: String
        if case .string(let s)? = arguments.first?.first { firstContext = s } else { firstContext = "" }
        let docHash = SHA256.hex(PythonText.jsonDumps(doc, indent: 2, keyOrder: keyOrder))
        let promptHash = SHA256.hex(firstContext), targetHash = SHA256.hex(target)
        let argumentsObject = JSONValue.object(Dictionary(uniqueKeysWithValues: arguments.enumerated().map { i, args in
            ("gen_args_\(i)", JSONValue.object(Dictionary(uniqueKeysWithValues: args.enumerated().map { ("arg_\($0)", $1) })))
        }))
        func text(_ v: JSONValue) -> String { PythonText.jsonDumps(v) }
        var pairs: [(String, String)] = [
            ("doc_id", "\(item.index)"), ("doc", PythonText.jsonDumps(doc, keyOrder: keyOrder)), ("target", PythonText.string(target)),
            ("arguments", text(argumentsObject)), ("resps", text(.array(resps))), ("filtered_resps", text(.array(filtered))),
            ("filter", "\"none\""), ("metrics", text(.array(perMetric.map { .string($0.0) }))),
            ("doc_hash", PythonText.string(docHash)), ("prompt_hash", PythonText.string(promptHash)), ("target_hash", PythonText.string(targetHash)),
        ]
        pairs += perMetric.map { ($0.0, text($0.1)) }
        let line = "{" + pairs.map { PythonText.string($0.0) + ": " + $0.1 }.joined(separator: ", ") + "}"
        return Sample(line: line, docHash: docHash, promptHash: promptHash, targetHash: targetHash)
    }

    /// `task_hashes`: sha256 over every sample's doc, prompt and target hashes in order (EvaluationTracker).
    public static func taskHash(_ samples: [Sample]) -> String {
        SHA256.hex(samples.map { $0.docHash + $0.promptHash + $0.targetHash }.joined())
    }
}
