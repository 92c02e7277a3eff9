// Reading a task's items: JSON Lines, a JSON array, SQuAD-style nested JSON (flattened to one item
// per question, as Hugging Face `datasets` does), or plain text for perplexity.
import Basics
import Foundation

public struct Dataset: Sendable {
    public var file: String
    public var items: [JSONValue]
    /// Malformed lines passed over when loading with `skipBadLines`.
    public var skippedLines: [Int] = []
    /// The items' keys in the order `datasets` gives its columns (lm-eval's logged documents are dumped so).
    public var keyOrder = PythonText.KeyOrder()

    public init(file: String, items: [JSONValue], skippedLines: [Int] = []) {
        self.file = file
        self.items = items
        self.skippedLines = skippedLines
    }

    public enum TextSplit: String, Sendable {
        case file, paragraph, line
    }

    /// Loads `path`. JSONL lines that do not parse raise an error naming the file and line, unless
    /// `skipBadLines` is set (then they are counted in `skippedLines`).
    public static func load(path: String, skipBadLines: Bool = false, textSplit: TextSplit = .file) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw EvaluationError.invalidData(file: path, line: nil, reason: exists ? "cannot read the file" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.invalidData(file: path, line: nil, reason: "not valid UTF-8")
        }
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "txt" || ext == "md" || ext == "text" {
            var dataset = Dataset(file: path, items: textDocuments(text, split: textSplit).map { .object(["text": .string($0)]) })
            dataset.keyOrder.keys[""] = ["text"]
            return dataset
        }
        let first = text.first { !$0.isWhitespace }
        if ext != "jsonl", first == "[" || first == "{" {
            if let whole = try? JSONValue.parse(data) {
                var dataset = Dataset(file: path, items: try rows(fromJSON: whole, file: path))
                dataset.keyOrder = whole["data"]?.arrayValue?.first?["paragraphs"] != nil ? squadKeyOrder : PythonText.KeyOrder.scan(text)
                return dataset
            }
            if first == "[" {
                throw EvaluationError.invalidData(file: path, line: nil, reason: "not valid JSON")
            }
        }
        var dataset = try jsonLines(text, file: path, skipBadLines: skipBadLines)
        dataset.keyOrder = PythonText.KeyOrder.scan(text)
        return dataset
    }

    /// The flattened SQuAD rows' columns, in the order of the Hugging Face SQuAD/JSQuAD features.
    static let squadKeyOrder: PythonText.KeyOrder = {
        var order = PythonText.KeyOrder()
        order.keys = ["": ["id", "title", "context", "question", "answers", "is_impossible"], "answers": ["text", "answer_start"]]
        return order
    }()

    static func rows(fromJSON value: JSONValue, file: String) throws -> [JSONValue] {
        switch value {
        case .array(let a):
            for (i, row) in a.enumerated() {
                guard case .object = row else {
                    throw EvaluationError.invalidItem(file: file, item: i, reason: "expected a JSON object")
                }
            }
            return a
        case .object(let o):
            if case .array(let articles)? = o["data"], articles.first?["paragraphs"] != nil {
                return flattenSQuAD(articles)
            }
            return [value]
        default:
            throw EvaluationError.invalidData(file: file, line: nil, reason: "expected JSON objects")
        }
    }

    /// SQuAD v1/v2 layout to rows {id, title, context, question, answers: {text, answer_start}, is_impossible}.
    static func flattenSQuAD(_ articles: [JSONValue]) -> [JSONValue] {
        var out: [JSONValue] = []
        for article in articles {
            let title = article["title"] ?? .string("")
            for paragraph in article["paragraphs"]?.arrayValue ?? [] {
                let context = paragraph["context"] ?? .string("")
                for qa in paragraph["qas"]?.arrayValue ?? [] {
                    let answers = qa["answers"]?.arrayValue ?? []
                    out.append(.object([
                        "id": qa["id"] ?? .null, "title": title, "context": context,
                        "question": qa["question"] ?? .string(""),
                        "answers": .object([
                            "text": .array(answers.map { $0["text"] ?? .string("") }),
                            "answer_start": .array(answers.map { $0["answer_start"] ?? .int(-1) }),
                        ]),
                        "is_impossible": qa["is_impossible"] ?? .bool(false),
                    ]))
                }
            }
        }
        return out
    }

    static func jsonLines(_ text: String, file: String, skipBadLines: Bool) throws -> Dataset {
        do {
            let (items, skipped) = try JSONLines.read(path: file, data: Data(text.utf8), skipBadLines: skipBadLines) { line, _ -> JSONValue? in
                guard let value = try? JSONValue.parse(Data(line.utf8)) else { throw JSONLines.Problem("malformed JSON line") }
                guard case .object = value else { throw JSONLines.Problem("expected a JSON object on each line") }
                return value
            }
            return Dataset(file: file, items: items, skippedLines: skipped.map(\.line))
        } catch let bad as JSONLines.BadLine {
            throw EvaluationError.invalidData(file: file, line: bad.line, reason: bad.reason + " (use skipBadLines to pass over it)")
        }
    }

    static func textDocuments(_ text: String, split: TextSplit) -> [String] {
        switch split {
        case .file: return text.isEmpty ? [] : [text]
        case .line: return text.split(separator: "\n").map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        case .paragraph:
            return text.components(separatedBy: "\n\n")
                .map { $0.trimmingCharacters(in: .newlines) }
                .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        }
    }
}
