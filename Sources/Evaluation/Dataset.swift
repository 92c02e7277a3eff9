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

    /// Loads `path` (the first `limit` items when given). JSONL lines that do not parse raise an error naming the
    /// file and line, unless `skipBadLines` is set (then they are counted in `skippedLines`). A JSONL file is
    /// streamed: with a limit only the lines up to the limit-th item are read.
    public static func load(path: String, skipBadLines: Bool = false, textSplit: TextSplit = .file, limit: Int? = nil) throws -> Dataset {
        if try isJSONLines(path) {
            return try jsonLines(file: path, skipBadLines: skipBadLines, limit: limit)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw unreadable(path) }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EvaluationError.invalidData(file: path, line: nil, reason: "not valid UTF-8")
        }
        var dataset: Dataset
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "txt" || ext == "md" || ext == "text" {
            dataset = Dataset(file: path, items: textDocuments(text, split: textSplit).map { .object(["text": .string($0)]) })
            dataset.keyOrder.keys[""] = ["text"]
        } else if let whole = try? JSONValue.parse(data) {
            dataset = Dataset(file: path, items: try rows(fromJSON: whole, file: path))
            dataset.keyOrder = whole["data"]?.arrayValue?.first?["paragraphs"] != nil ? squadKeyOrder : PythonText.KeyOrder.scan(text)
        } else if text.first(where: { !$0.isWhitespace }) == "[" {
            throw EvaluationError.invalidData(file: path, line: nil, reason: "not valid JSON")
        } else {
            return try jsonLines(file: path, skipBadLines: skipBadLines, limit: limit)
        }
        if let limit, dataset.items.count > limit { dataset.items.removeLast(dataset.items.count - limit) }
        return dataset
    }

    /// Whether `path` is read as JSON Lines, item by item: a `.jsonl` file, or one whose first non-blank byte
    /// opens neither a JSON array nor an object (a `.json` file, plain text and SQuAD-style JSON are read whole).
    static func isJSONLines(_ path: String) throws -> Bool {
        let ext = (path as NSString).pathExtension.lowercased()
        if ["txt", "md", "text"].contains(ext) { return false }
        if ext == "jsonl" {
            guard FileManager.default.isReadableFile(atPath: path) else { throw unreadable(path) }
            return true
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw unreadable(path) }
        defer { try? handle.close() }
        while let chunk = try? handle.read(upToCount: 1 << 16), !chunk.isEmpty {
            if let first = chunk.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
                return first != UInt8(ascii: "[") && first != UInt8(ascii: "{")
            }
        }
        return false
    }

    static func unreadable(_ path: String) -> EvaluationError {
        .invalidData(file: path, line: nil, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
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

    /// One JSONL line as an item: a JSON object, or a Problem.
    static func item(_ line: String) throws -> JSONValue {
        guard let value = try? JSONValue.parse(Data(line.utf8)) else { throw JSONLines.Problem("malformed JSON line") }
        guard case .object = value else { throw JSONLines.Problem("expected a JSON object on each line") }
        return value
    }

    /// A JSONL reader of items with its bad lines as EvaluationError.
    static func reading<T>(_ file: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let bad as JSONLines.BadLine {
            if bad.line == 0 { throw EvaluationError.invalidData(file: file, line: nil, reason: bad.reason) }
            throw EvaluationError.invalidData(file: file, line: bad.line, reason: bad.reason + " (use skipBadLines to pass over it)")
        }
    }

    static func jsonLines(file: String, skipBadLines: Bool, limit: Int?) throws -> Dataset {
        try reading(file) {
            var lines: [String] = []
            let (items, skipped) = try JSONLines.read(path: file, skipBadLines: skipBadLines, limit: limit) { line, _ in
                let parsed = try item(line)
                lines.append(line)
                return parsed
            }
            var dataset = Dataset(file: file, items: items, skippedLines: skipped.map(\.line))
            // The key order of the lines read (lm-eval's logged documents are dumped in the data's column order).
            dataset.keyOrder = PythonText.KeyOrder.scan(lines.joined(separator: "\n"))
            return dataset
        }
    }

    /// The number of items of a file, read as `load` reads it; a JSONL file is counted without keeping its items
    /// (non-blank lines; when skipping bad lines, the lines that parse).
    public static func count(path: String, skipBadLines: Bool = false, textSplit: TextSplit = .file) throws -> Int {
        guard try isJSONLines(path) else { return try load(path: path, skipBadLines: skipBadLines, textSplit: textSplit).items.count }
        if !skipBadLines { return try reading(path) { try JSONLines.countNonBlankLines(path: path) } }
        return try reading(path) {
            var reader = try JSONLines.Reader(path: path, skipBadLines: true) { line, _ -> Bool in _ = try item(line); return true }
            var n = 0
            while try reader.next() != nil { n += 1 }
            return n
        }
    }

    /// The items numbered `wanted` (0-based, as `load` numbers them), read in one pass that stops after the last
    /// of them; a file that is not JSONL is loaded whole.
    public static func items(at wanted: Set<Int>, path: String, skipBadLines: Bool = false, textSplit: TextSplit = .file) throws -> [Int: JSONValue] {
        guard let last = wanted.max() else { return [:] }
        guard try isJSONLines(path) else {
            let all = try load(path: path, skipBadLines: skipBadLines, textSplit: textSplit).items
            return Dictionary(uniqueKeysWithValues: wanted.filter { $0 < all.count }.map { ($0, all[$0]) })
        }
        return try reading(path) {
            // Lines are parsed only where wanted; a bad line elsewhere still counts as an item unless skipping.
            var index = -1
            var reader = try JSONLines.Reader(path: path, skipBadLines: skipBadLines) { line, _ -> (Int, JSONValue?) in
                if skipBadLines { let value = try item(line); index += 1; return (index, value) }
                index += 1
                return (index, wanted.contains(index) ? try item(line) : nil)
            }
            defer { reader.close() }
            var found: [Int: JSONValue] = [:]
            while index < last, let (i, value) = try reader.next() {
                if wanted.contains(i), let value { found[i] = value }
            }
            return found
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
