// A task file (evalsets/NAME.yaml) in lm-evaluation-harness's spirit: which data, how each item
// becomes a prompt (templates), what is scored and how. Tasks are data; scorers are code.
//
// Keys read (lm-eval's names): task, dataset_path, dataset_kwargs.data_files, test_split,
// validation_split, training_split, fewshot_split, output_type, doc_to_text, doc_to_target,
// doc_to_choice, target_delimiter, fewshot_delimiter, num_fewshot, fewshot_config
// (doc_to_text/doc_to_target for the examples, sampler seed via `random_seed`), generation_kwargs
// (until, max_gen_toks), metric_list, metadata.version, description.
// hayai's own: prompt_version, download (where users get the public data), data_file and
// fewshot_data_file (paths), multiple_inputs (winogrande-style partial scoring: the choices are
// contexts, doc_to_text gives the gold index, doc_to_target the shared continuation),
// tokenization (`joint`: lm-eval 0.4's _encode_pair; `separate`: context and continuation encoded
// on their own, as the Japanese StableLM harness does), text_split (file, paragraph, line).
import Foundation

public struct EvalTask: Sendable {
    public enum OutputType: String, Sendable, Codable {
        case multipleChoice = "multiple_choice"
        case generateUntil = "generate_until"
        case loglikelihoodRolling = "loglikelihood_rolling"
    }

    public enum Tokenization: String, Sendable {
        case joint, separate
    }

    /// A doc_to_* value: a field of the item, a template, or a constant.
    public enum Spec: Sendable {
        case field(String)
        case template(PromptTemplate)
        case constant(JSONValue)
        /// A YAML list: each element is a Spec (choices written out one by one).
        case list([Spec])
    }

    public struct Metric: Sendable {
        public var name: String
        public var higherIsBetter: Bool
        /// exact_match options as lm-eval's `exact_match` metric takes them.
        public var ignoreCase = false
        public var ignorePunctuation = false
        public var regexesToIgnore: [String] = []
    }

    public var name: String
    /// The YAML file (errors name it); empty for tasks built in code.
    public var file: String
    public var outputType: OutputType
    public var dataFile: String
    public var fewshotDataFile: String?
    public var docToText: Spec?
    public var docToTarget: Spec?
    public var docToChoice: Spec?
    public var fewshotDocToText: Spec?
    public var fewshotDocToTarget: Spec?
    public var description: PromptTemplate?
    public var targetDelimiter = " "
    public var fewshotDelimiter = "\n\n"
    public var numFewshot = 0
    public var fewshotSeed: UInt64 = 1234
    public var until: [String] = []
    /// nil: `max_gen_toks: dynamic`, the longest target's token count (the JP harness's JSQuAD).
    public var maxGenTokens: Int? = 256
    public var metrics: [Metric] = []
    public var version = "1.0"
    public var promptVersion: String?
    public var download: String?
    public var multipleInputs = false
    public var tokenization = Tokenization.joint
    public var textSplit = Dataset.TextSplit.file
    /// The task file's keys as written (LMEvalFormat writes them back as lm-eval's `configs` entry).
    public var fileConfig: [String: JSONValue] = [:]

    static let knownKeys: Set<String> = [
        "task", "tag", "group", "dataset_path", "dataset_name", "dataset_kwargs", "test_split", "validation_split",
        "training_split", "fewshot_split", "output_type", "doc_to_text", "doc_to_target", "doc_to_choice",
        "target_delimiter", "fewshot_delimiter", "num_fewshot", "fewshot_config", "generation_kwargs", "metric_list",
        "metadata", "description", "prompt_version", "download", "data_file", "fewshot_data_file", "multiple_inputs",
        "tokenization", "text_split", "should_decontaminate", "repeats", "filter_list", "process_docs", "unsafe_code",
    ]

    /// Loads a task file. `environment` supplies `${VAR}` values (HAYAI_DATA); `dataFile` overrides
    /// where the items come from (e.g. the text file of a perplexity task).
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                            dataFile: String? = nil) throws -> EvalTask {
        // Sized before it is read: a task file is a few hundred bytes of YAML.
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > YAMLReading.fileSizeLimit {
            throw EvaluationError.invalidTask(file: path, reason: "the task file is \(size) bytes, over the limit of \(YAMLReading.fileSizeLimit) (YAMLReading.fileSizeLimit)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EvaluationError.invalidTask(file: path, reason: "no such task file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.invalidTask(file: path, reason: "not valid UTF-8")
        }
        return try parse(yaml: text, file: path, environment: environment, dataFile: dataFile)
    }

    public static func parse(yaml: String, file: String, environment: [String: String] = ProcessInfo.processInfo.environment,
                             dataFile: String? = nil) throws -> EvalTask {
        let root = try YAMLReading.load(yaml, file: file)
        guard case .object(let config) = root else {
            throw EvaluationError.invalidTask(file: file, reason: "expected a mapping of task keys")
        }
        func fail(_ reason: String) -> EvaluationError { .invalidTask(file: file, reason: reason) }
        func string(_ key: String) throws -> String? {
            guard let v = config[key], v != .null else { return nil }
            switch v {
            case .string(let s): return s
            case .int, .double, .bool: return v.text
            default: throw fail("\(key) must be text")
            }
        }
        if let unknown = config.keys.filter({ !knownKeys.contains($0) }).sorted().first {
            throw fail("unknown key '\(unknown)'")
        }
        guard let name = try string("task") else { throw fail("missing 'task' (the task's name)") }
        guard let typeName = try string("output_type") else { throw fail("missing 'output_type'") }
        guard let outputType = OutputType(rawValue: typeName) else {
            throw fail("unknown output_type '\(typeName)' (use multiple_choice, generate_until or loglikelihood_rolling)")
        }

        let baseDir = (file as NSString).deletingLastPathComponent
        var task = EvalTask(name: name, file: file, outputType: outputType, dataFile: "")
        task.fileConfig = config

        // Data files: `data_file`, or lm-eval's dataset_path (a file, or `json` with data_files by split).
        var splits: [String: String] = [:]
        if case .object(let kwargs)? = config["dataset_kwargs"], case .object(let files)? = kwargs["data_files"] {
            for (split, v) in files {
                if case .string(let s) = v { splits[split] = s } else if case .array(let a) = v, case .string(let s)? = a.first { splits[split] = s }
            }
        } else if case .string(let s)? = config["dataset_kwargs"]?["data_files"] {
            splits["test"] = s
        }
        let evalSplit = try string("test_split") ?? string("validation_split") ?? (splits["test"] != nil ? "test" : splits.keys.sorted().first)
        var dataPath: String?
        if let explicit = try string("data_file") {
            dataPath = explicit
        } else if let split = evalSplit, let f = splits[split] {
            dataPath = f
        } else if let p = try string("dataset_path"), !["json", "text", "csv", "parquet"].contains(p) {
            dataPath = p
        }
        task.download = try string("download")
        if let dataFile {
            task.dataFile = dataFile
        } else {
            guard let dataPath else { throw fail("missing the data: give data_file, or dataset_path: json with dataset_kwargs.data_files") }
            task.dataFile = try resolvePath(dataPath, baseDir: baseDir, environment: environment, file: file, download: task.download)
        }
        if let f = try string("fewshot_data_file") {
            task.fewshotDataFile = try resolvePath(f, baseDir: baseDir, environment: environment, file: file, download: task.download)
        } else if let split = try string("fewshot_split") ?? string("training_split"), let f = splits[split] {
            task.fewshotDataFile = try resolvePath(f, baseDir: baseDir, environment: environment, file: file, download: task.download)
        }

        func spec(_ key: String, _ value: JSONValue?) throws -> Spec? {
            guard let value, value != .null else { return nil }
            switch value {
            case .string(let s):
                return PromptTemplate.isTemplate(s) ? .template(try PromptTemplate(s, file: file)) : .field(s)
            case .int, .double, .bool: return .constant(value)
            case .array(let items):
                return .list(try items.map { item in
                    if case .string(let s) = item { return .template(try PromptTemplate(s, file: file)) }
                    return .constant(item)
                })
            case .object(let o):
                return try spec(key, .array(o.keys.sorted().compactMap { o[$0] }))
            case .null: return nil
            }
        }
        task.docToText = try spec("doc_to_text", config["doc_to_text"])
        task.docToTarget = try spec("doc_to_target", config["doc_to_target"])
        task.docToChoice = try spec("doc_to_choice", config["doc_to_choice"])
        if let d = try string("description"), !d.isEmpty { task.description = try PromptTemplate(d, file: file) }
        if let t = try string("target_delimiter") { task.targetDelimiter = t }
        if let t = try string("fewshot_delimiter") { task.fewshotDelimiter = t }
        if let n = config["num_fewshot"] {
            guard let k = n.intValue, k >= 0 else { throw fail("num_fewshot must be a whole number ≥ 0") }
            task.numFewshot = k
        }
        if case .object(let fs)? = config["fewshot_config"] {
            task.fewshotDocToText = try spec("fewshot_config.doc_to_text", fs["doc_to_text"])
            task.fewshotDocToTarget = try spec("fewshot_config.doc_to_target", fs["doc_to_target"])
            if let seed = fs["random_seed"]?.intValue { task.fewshotSeed = UInt64(truncatingIfNeeded: seed) }
        }
        if case .object(let gen)? = config["generation_kwargs"] {
            switch gen["until"] {
            case .string(let s)?: task.until = [s]
            case .array(let a)?: task.until = a.map(\.text)
            default: break
            }
            if let m = gen["max_gen_toks"] {
                if m == .string("dynamic") { task.maxGenTokens = nil }
                else if let k = m.intValue, k > 0 { task.maxGenTokens = k }
                else { throw fail("generation_kwargs.max_gen_toks must be a positive number or 'dynamic'") }
            }
        }
        if let v = config["metadata"]?["version"] { task.version = v.text }
        task.promptVersion = try string("prompt_version")
        if let m = config["multiple_inputs"] { task.multipleInputs = m == .bool(true) }
        if let t = try string("tokenization") {
            guard let tok = Tokenization(rawValue: t) else { throw fail("tokenization must be joint or separate") }
            task.tokenization = tok
        }
        if let t = try string("text_split") {
            guard let s = Dataset.TextSplit(rawValue: t) else { throw fail("text_split must be file, paragraph or line") }
            task.textSplit = s
        }

        // Metrics: listed, or the output type's defaults.
        if case .array(let list)? = config["metric_list"] {
            for entry in list {
                guard let metricName = entry["metric"]?.text ?? (entry.intValue == nil ? entry.text : nil), !metricName.isEmpty else {
                    throw fail("metric_list entries need a 'metric'")
                }
                var m = Metric(name: metricName, higherIsBetter: entry["higher_is_better"].map { $0 == .bool(true) } ?? !Metric.lowerIsBetter.contains(metricName))
                m.ignoreCase = entry["ignore_case"] == .bool(true)
                m.ignorePunctuation = entry["ignore_punctuation"] == .bool(true)
                m.regexesToIgnore = entry["regexes_to_ignore"]?.arrayValue?.map(\.text) ?? []
                guard Metric.supported(for: outputType).contains(m.name) else {
                    throw fail("metric '\(m.name)' is not available for \(outputType.rawValue) (use \(Metric.supported(for: outputType).sorted().joined(separator: ", ")))")
                }
                task.metrics.append(m)
            }
        } else {
            task.metrics = Metric.defaults(for: outputType).map { Metric(name: $0, higherIsBetter: !Metric.lowerIsBetter.contains($0)) }
        }

        switch outputType {
        case .multipleChoice:
            guard task.docToChoice != nil else { throw fail("multiple_choice needs doc_to_choice") }
            guard task.docToText != nil, task.docToTarget != nil else { throw fail("multiple_choice needs doc_to_text and doc_to_target") }
        case .generateUntil:
            guard task.docToText != nil, task.docToTarget != nil else { throw fail("generate_until needs doc_to_text and doc_to_target") }
        case .loglikelihoodRolling:
            if task.docToTarget == nil { task.docToTarget = .field("text") }
            guard task.numFewshot == 0 else { throw fail("loglikelihood_rolling tasks take no few-shot examples") }
        }
        return task
    }

    public init(name: String, file: String, outputType: OutputType, dataFile: String) {
        self.name = name
        self.file = file
        self.outputType = outputType
        self.dataFile = dataFile
    }

    /// `${VAR}` / `${VAR:-default}` expanded; relative paths are relative to the YAML's folder,
    /// then to HAYAI_DATA.
    static func resolvePath(_ raw: String, baseDir: String, environment: [String: String], file: String, download: String?) throws -> String {
        var path = ""
        var rest = Substring(raw)
        while let start = rest.range(of: "${") {
            path += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw EvaluationError.invalidTask(file: file, reason: "unclosed ${ in path '\(raw)'")
            }
            let expr = String(rest[start.upperBound..<end])
            let parts = expr.components(separatedBy: ":-")
            if let v = environment[parts[0]], !v.isEmpty {
                path += v
            } else if parts.count > 1 {
                path += parts[1...].joined(separator: ":-")
            } else {
                let hint = download.map { " (get the data from \($0))" } ?? ""
                throw EvaluationError.invalidTask(file: file, reason: "set \(parts[0]) to the folder holding \(raw.replacingOccurrences(of: "${\(parts[0])}/", with: ""))\(hint)")
            }
            rest = rest[rest.index(after: end)...]
        }
        path += rest
        if path.hasPrefix("~/") { path = NSString(string: path).expandingTildeInPath }
        if path.hasPrefix("/") { return path }
        let local = (baseDir as NSString).appendingPathComponent(path)
        if !FileManager.default.fileExists(atPath: local), let dataRoot = environment["HAYAI_DATA"], !dataRoot.isEmpty {
            let shared = (dataRoot as NSString).appendingPathComponent(path)
            if FileManager.default.fileExists(atPath: shared) { return shared }
        }
        return local
    }

    /// The task's identity in stored results: name, version and prompt version.
    public var identifier: String {
        [name, version, promptVersion].compactMap { $0 }.joined(separator: "-")
    }
}

extension EvalTask.Metric {
    static let lowerIsBetter: Set<String> = ["word_perplexity", "byte_perplexity", "bits_per_byte"]

    static func supported(for type: EvalTask.OutputType) -> Set<String> {
        switch type {
        case .multipleChoice: return ["acc", "acc_norm", "balanced_acc", "mcc", "macro_f1"]
        case .generateUntil: return ["exact_match", "jsquad_exact_match", "jsquad_char_f1", "numeric_match"]
        case .loglikelihoodRolling: return ["word_perplexity", "byte_perplexity", "bits_per_byte"]
        }
    }

    static func defaults(for type: EvalTask.OutputType) -> [String] {
        switch type {
        case .multipleChoice: return ["acc", "acc_norm"]
        case .generateUntil: return ["exact_match"]
        case .loglikelihoodRolling: return ["word_perplexity", "byte_perplexity", "bits_per_byte"]
        }
    }
}
