// Instruction-tuning data in the common JSONL shapes: Alpaca (`instruction`, `input`, `output`) and
// chat (`messages`: [{role, content}]), read into conversations a chat template renders. Bad lines
// are reported with file and line; the caller chooses to stop or skip them.
import Basics
import Foundation

public struct InstructionTurn: Sendable, Equatable, Codable {
    public var user: String
    /// Alpaca's optional `input` (context for the instruction), kept apart so templates with an
    /// input section (`### 入力:`) can place it.
    public var input: String
    public var assistant: String
    public init(user: String, input: String = "", assistant: String) { self.user = user; self.input = input; self.assistant = assistant }
}

public struct InstructionRecord: Sendable, Equatable, Codable {
    public var system: String?
    public var turns: [InstructionTurn]
    /// file:line it came from.
    public var source: String
    public init(system: String? = nil, turns: [InstructionTurn], source: String) { self.system = system; self.turns = turns; self.source = source }
}

public struct InstructionDataReport: Sendable, Equatable {
    public var lines = 0
    public var records = 0
    /// "file:line: problem" for each line skipped.
    public var skipped: [String] = []
}

public enum InstructionData {
    /// Reads a JSONL file. With `skipBadLines` false the first bad line throws; otherwise it is
    /// counted in the report and skipped.
    public static func load(path: String, skipBadLines: Bool = false) throws -> ([InstructionRecord], InstructionDataReport) {
        var report = InstructionDataReport()
        let (records, skipped) = try read(path: path, skipBadLines: skipBadLines) { line, number in
            report.lines += 1
            return try record(line, path: path, number: number)
        }
        report.skipped = skipped.map(\.description)
        report.records = records.count
        guard !records.isEmpty else { throw TrainingError.badData("\(path): no usable examples (\(report.skipped.count) bad lines)") }
        return (records, report)
    }

    /// Line `number` of `path` as a record; what is wrong with it as a JSONLines.Problem (the reader adds file and line).
    static func record(_ line: String, path: String, number: Int) throws -> InstructionRecord {
        do { return try parse(line, source: "\(path):\(number)") } catch let TrainingError.badData(message) {
            throw JSONLines.Problem(message.hasPrefix("\(path):\(number): ") ? String(message.dropFirst("\(path):\(number): ".count)) : message)
        }
    }

    /// JSONLines.read with its bad lines as TrainingError.badData("path:line: reason").
    static func read<Item>(path: String, skipBadLines: Bool, limit: Int? = nil,
                           parse: (String, Int) throws -> Item?) throws -> (items: [Item], skipped: [JSONLines.BadLine]) {
        try reading(path) { try JSONLines.read(path: path, skipBadLines: skipBadLines, limit: limit, parse: parse) }
    }

    /// `body` (reading `path` through JSONLines) with a bad line as TrainingError.badData("path:line: reason").
    static func reading<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let bad as JSONLines.BadLine {
            throw TrainingError.badData(bad.line == 0 ? "\(bad.path): \(bad.reason)" : bad.description)
        }
    }

    /// One JSON line in either shape.
    public static func parse(_ line: String, source: String) throws -> InstructionRecord {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TrainingError.badData("\(source): not a JSON object")
        }
        func string(_ key: String) throws -> String? {
            guard let value = object[key], !(value is NSNull) else { return nil }
            guard let s = value as? String else { throw TrainingError.badData("\(source): field '\(key)' is not a string") }
            return s
        }
        if let messages = object["messages"] {
            guard let list = messages as? [[String: Any]] else { throw TrainingError.badData("\(source): 'messages' is not a list of objects") }
            var system: String?, turns: [InstructionTurn] = [], pendingUser: String?
            for (i, m) in list.enumerated() {
                guard let role = m["role"] as? String, let content = m["content"] as? String else {
                    throw TrainingError.badData("\(source): message \(i) lacks a string 'role' or 'content'")
                }
                switch role {
                case "system" where i == 0: system = content
                case "user":
                    guard pendingUser == nil else { throw TrainingError.badData("\(source): two user messages in a row at message \(i)") }
                    pendingUser = content
                case "assistant":
                    guard let user = pendingUser else { throw TrainingError.badData("\(source): assistant message \(i) does not follow a user message") }
                    guard !content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                        throw TrainingError.badData("\(source): empty response in message \(i)")
                    }
                    turns.append(InstructionTurn(user: user, assistant: content))
                    pendingUser = nil
                default: throw TrainingError.badData("\(source): unknown role '\(role)' at message \(i) (expected system, user, assistant)")
                }
            }
            guard !turns.isEmpty else { throw TrainingError.badData("\(source): no user/assistant exchange in 'messages'") }
            return InstructionRecord(system: system, turns: turns, source: source)
        }
        guard let instruction = try string("instruction") else {
            throw TrainingError.badData("\(source): missing field 'instruction' (or 'messages')")
        }
        guard let output = try string("output") ?? string("response") else { throw TrainingError.badData("\(source): missing field 'output'") }
        guard !output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw TrainingError.badData("\(source): empty response in 'output'") }
        guard !instruction.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw TrainingError.badData("\(source): empty 'instruction'") }
        return InstructionRecord(system: try string("system"),
                                 turns: [InstructionTurn(user: instruction, input: try string("input") ?? "", assistant: output)],
                                 source: source)
    }

    /// JCommonsenseQA's train split (JGLUE, CC BY-SA 4.0) as instructions: `instruction` (a text with
    /// `{{choices}}` where the five choices go as "- choice" lines; data/sft/jcommonsenseqa-instruction.txt
    /// holds the one of the JP harness's prompt version 0.3, what instruct models are scored with), the
    /// question as input, the right choice's text out. Only the train file may be used.
    public static func jcommonsenseqa(trainFile path: String, instruction: String, limit: Int? = nil) throws -> [InstructionRecord] {
        guard instruction.contains("{{choices}}") else {
            throw TrainingError.badData("the JCommonsenseQA instruction has no {{choices}} placeholder")
        }
        guard (path as NSString).lastPathComponent.hasPrefix("train") else {
            throw TrainingError.badData("\(path): only JCommonsenseQA's train split may be used for training")
        }
        return try read(path: path, skipBadLines: false, limit: limit) { line, number in
            let o = try JSONLines.object(line)
            guard let question = o["question"] as? String, let label = (o["label"] as? NSNumber)?.intValue else {
                throw JSONLines.Problem("not a JCommonsenseQA item")
            }
            let choices = (0..<5).compactMap { o["choice\($0)"] as? String }
            guard choices.count == 5, (0..<5).contains(label) else { throw JSONLines.Problem("needs choice0…choice4 and a label in 0…4") }
            let listed = choices.map { "- \($0)" }.joined(separator: "\n")
            return InstructionRecord(turns: [InstructionTurn(user: instruction.replacingOccurrences(of: "{{choices}}", with: listed),
                                                             input: question, assistant: choices[label])],
                                     source: "\(path):\(number)")
        }.items
    }

    /// Dictionary-style pairs derived from a corpus built by `hayai data build`: Jargon File entries
    /// (public domain) as "what does TERM mean" → the entry's first sentence, and Japanese manual
    /// pages (manpages-ja, -dev) as "what is NAME" → the page's one-line description. Reads the
    /// corpus's train split only.
    public static func corpusPairs(corpus: String, limit: Int? = nil, skipBadLines: Bool = false) throws -> [InstructionRecord] {
        let path = (corpus as NSString).appendingPathComponent("train.jsonl")
        return try read(path: path, skipBadLines: skipBadLines, limit: limit) { line, number in
            let o = try JSONLines.object(line)
            guard let text = o["text"] as? String, let source = o["source"] as? String else {
                throw JSONLines.Problem("not a corpus document (needs 'text' and 'source' strings)")
            }
            let turn: InstructionTurn?
            switch source {
            case "jargon-text": turn = jargonPair(text)
            case "manpages-ja", "manpages-ja-dev": turn = manualPair(text)
            default: turn = nil
            }
            return turn.map { InstructionRecord(turns: [$0], source: "\(path):\(number)") }
        }.items
    }

    /// "TERM: /pron/, n.\n\n[etymology] Definition. More." → ("What does “TERM” mean…", "Definition.")
    static func jargonPair(_ text: String) -> InstructionTurn? {
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard paragraphs.count >= 2, let colon = paragraphs[0].range(of: ": ") else { return nil }
        let term = String(paragraphs[0][..<colon.lowerBound])
        guard !term.isEmpty, term.count <= 40 else { return nil }
        var body = paragraphs[1].replacingOccurrences(of: "\n", with: " ")
        if body.hasPrefix("1. ") { body.removeFirst(3) }
        if body.hasPrefix("["), let close = body.firstIndex(of: "]") { body = String(body[body.index(after: close)...]) }
        body = body.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
            .trimmingCharacters(in: .whitespaces)
        guard let end = body.range(of: ". ")?.lowerBound ?? (body.hasSuffix(".") ? body.index(before: body.endIndex) : nil) else { return nil }
        let sentence = String(body[...end])
        guard sentence.count >= 12, sentence.count <= 300 else { return nil }
        return InstructionTurn(user: "What does “\(term)” mean in hacker jargon?", assistant: sentence)
    }

    /// "名前\n\nls - ディレクトリの内容をリスト表示する\n\n…" → ("「ls」とは何ですか？", "ls は、ディレクトリの内容をリスト表示する。")
    static func manualPair(_ text: String) -> InstructionTurn? {
        let paragraphs = text.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard paragraphs.count >= 2, ["名前", "名称"].contains(paragraphs[0]) else { return nil }
        let nameLine = paragraphs[1].replacingOccurrences(of: "\n", with: " ")
        guard let dash = nameLine.range(of: " - ") else { return nil }
        let names = String(nameLine[..<dash.lowerBound]).trimmingCharacters(in: .whitespaces)
        let description = String(nameLine[dash.upperBound...]).trimmingCharacters(in: .whitespaces)
        guard !names.isEmpty, names.count <= 60, description.count >= 4, description.count <= 120 else { return nil }
        let end = description.hasSuffix("。") ? "" : "。"
        return InstructionTurn(user: "Linux のマニュアルによると、「\(names)」とは何ですか？", assistant: "\(names) は、\(description)\(end)")
    }
}
