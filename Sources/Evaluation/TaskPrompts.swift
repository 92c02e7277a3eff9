// From an item to what the model sees: the prompt text (description, few-shot examples, the
// item's own text), the choices and the gold answer — lm-eval's doc_to_text / doc_to_choice /
// doc_to_target and its few-shot sampler.
import Basics
import Foundation

extension EvalTask {
    /// A doc_to_* spec applied to one item.
    func value(_ spec: Spec, _ doc: JSONValue, item: Int, key: String, fieldRequired: Bool) throws -> JSONValue {
        switch spec {
        case .field(let name):
            if let v = doc.lookup(path: name) { return v }
            if fieldRequired {
                throw EvaluationError.invalidItem(file: file.isEmpty ? dataFile : file, item: item, reason: "\(key): the item has no field '\(name)'")
            }
            return .string(name)
        case .template(let t): return .string(try t.render(doc, file: file))
        case .constant(let v): return v
        case .list(let specs): return .array(try specs.map { try value($0, doc, item: item, key: key, fieldRequired: fieldRequired) })
        }
    }

    func itemError(_ item: Int, _ reason: String) -> EvaluationError {
        .invalidItem(file: dataFile, item: item, reason: reason)
    }

    /// The item's own text (doc_to_text).
    func text(_ doc: JSONValue, item: Int, fewshot: Bool = false) throws -> String {
        guard let spec = (fewshot ? fewshotDocToText : nil) ?? docToText else { return "" }
        return try value(spec, doc, item: item, key: "doc_to_text", fieldRequired: false).text
    }

    /// The most choices an item may have: each is scored by a forward pass, so an item with 10^6 of
    /// them would run for hours (lm-eval's tasks have at most a few dozen).
    public static let choiceLimit = 1000

    /// The answer choices (doc_to_choice): a list field, a template that renders a JSON list, or a YAML list.
    func choices(_ doc: JSONValue, item: Int) throws -> [String] {
        guard let spec = docToChoice else { return [] }
        let v = try value(spec, doc, item: item, key: "doc_to_choice", fieldRequired: true)
        func bounded(_ a: [JSONValue]) throws -> [String] {
            guard a.count <= Self.choiceLimit else {
                throw itemError(item, "doc_to_choice gave \(a.count) choices, over the limit of \(Self.choiceLimit) (EvalTask.choiceLimit)")
            }
            return a.map(\.text)
        }
        switch v {
        case .array(let a): return try bounded(a)
        case .string(let s):
            let normalized = s.trimmingCharacters(in: .whitespacesAndNewlines)
            if let parsed = try? JSONValue.parse(Data(normalized.utf8)), case .array(let a) = parsed { return try bounded(a) }
            throw itemError(item, "doc_to_choice rendered '\(s.prefix(60))', not a list")
        default:
            throw itemError(item, "doc_to_choice must give a list, got \(v.description.prefix(60))")
        }
    }

    /// The gold choice's index for a multiple-choice item. With `multiple_inputs` the index comes
    /// from doc_to_text (lm-eval's winogrande convention).
    func goldIndex(_ doc: JSONValue, item: Int, choices: [String]) throws -> Int {
        let raw: JSONValue
        if multipleInputs {
            guard let spec = docToText else { throw itemError(item, "multiple_inputs needs doc_to_text to give the gold index") }
            raw = try value(spec, doc, item: item, key: "doc_to_text", fieldRequired: true)
        } else {
            raw = try value(docToTarget!, doc, item: item, key: "doc_to_target", fieldRequired: true)
        }
        var index: Int?
        switch raw {
        case .int(let i): index = i
        case .double(let d) where d == d.rounded(): index = Int(d)
        case .string(let s):
            let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
            index = Int(t) ?? (multipleInputs ? nil : choices.firstIndex(of: s) ?? choices.firstIndex(of: t))
            if index == nil {
                throw itemError(item, "the target '\(s.prefix(40))' is neither a choice nor an index")
            }
        default:
            throw itemError(item, "the target must be an index or a choice, got \(raw.description.prefix(40))")
        }
        guard let gold = index, choices.indices.contains(gold) else {
            throw itemError(item, "label \(index.map(String.init) ?? "?") is out of range for \(choices.count) choices")
        }
        return gold
    }

    /// Reference answers for a generation item (a text field, a list of texts, or a template).
    func targets(_ doc: JSONValue, item: Int) throws -> [String] {
        guard let spec = docToTarget else { return [] }
        let v = try value(spec, doc, item: item, key: "doc_to_target", fieldRequired: true)
        if case .array(let a) = v { return a.map(\.text) }
        if let choiceSpec = docToChoice, let i = v.intValue {
            _ = choiceSpec
            let c = try choices(doc, item: item)
            guard c.indices.contains(i) else { throw itemError(item, "label \(i) is out of range for \(c.count) choices") }
            return [c[i]]
        }
        return [v.text]
    }

    /// The continuation a few-shot example shows after its text.
    func fewshotTarget(_ doc: JSONValue, item: Int) throws -> String {
        if let spec = fewshotDocToTarget {
            return try value(spec, doc, item: item, key: "fewshot_config.doc_to_target", fieldRequired: false).text
        }
        switch outputType {
        case .multipleChoice:
            let c = try choices(doc, item: item)
            if multipleInputs { return try value(docToTarget!, doc, item: item, key: "doc_to_target", fieldRequired: true).text }
            return c[try goldIndex(doc, item: item, choices: c)]
        case .generateUntil:
            return try targets(doc, item: item).first ?? ""
        case .loglikelihoodRolling:
            return ""
        }
    }

    /// One example as lm-eval's sampler writes it: text, target delimiter, target, few-shot delimiter.
    func fewshotExample(_ doc: JSONValue, item: Int) throws -> String {
        var text: String
        if multipleInputs && fewshotDocToText == nil {
            let c = try choices(doc, item: item)
            text = c[try goldIndex(doc, item: item, choices: c)]
        } else {
            text = try self.text(doc, item: item, fewshot: true)
        }
        let target = try fewshotTarget(doc, item: item)
        if !target.isEmpty { text += targetDelimiter + target }
        return text + fewshotDelimiter
    }

    /// Description and few-shot examples: everything before the item's own text.
    /// Examples are drawn from `pool` with a generator seeded by (fewshotSeed, item); when the pool
    /// is the evaluated set, the item itself is never its own example.
    func prefix(for doc: JSONValue, item: Int, pool: FewshotPool, poolIsEvalSet: Bool, numFewshot: Int) throws -> String {
        var out = try description?.render(doc, file: file) ?? ""
        let drawn = fewshotDraws(item: item, poolCount: pool.count, poolIsEvalSet: poolIsEvalSet, numFewshot: numFewshot)
        let examples = try drawn.map { i -> (Int, JSONValue) in
            guard let example = pool[i] else { throw itemError(item, "few-shot example \(i) was not read") }
            return (i, example)
        }.filter { i, example in !(poolIsEvalSet && (i == item || example == doc)) }.prefix(numFewshot)
        for (i, example) in examples { out += try fewshotExample(example, item: i) }
        return out
    }
}
