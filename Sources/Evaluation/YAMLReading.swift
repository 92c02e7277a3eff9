// YAML task files to JSONValue trees (Yams' node API), so the task parser reads one value type.
// Before Yams builds a tree, one pass over libyaml's events (CYaml, which Yams is built on) bounds what a
// hostile file can make it do: nesting deeper than `nestingLimit` (Yams and the conversion below recurse
// once per level; 5,000 levels overflowed the stack) and alias expansion beyond `expandedNodeLimit`
// values (a nine-level "billion laughs" grew past 4 GB). Task files larger than `fileSizeLimit` are refused.
import Foundation
import CYaml
import Yams

enum YAMLReading {
    /// The largest task file read (the bundled ones are under 2 KB; items live in JSONL files).
    static let fileSizeLimit = 1 << 20
    /// The deepest nesting of mappings and sequences (task files use three or four levels).
    static let nestingLimit = 64
    /// The most values the document may hold with every alias expanded.
    static let expandedNodeLimit = 100_000

    static func load(_ text: String, file: String) throws -> JSONValue {
        guard text.utf8.count <= fileSizeLimit else {
            throw EvaluationError.invalidTask(file: file, reason: "the task file is \(text.utf8.count) bytes, over the limit of \(fileSizeLimit) (YAMLReading.fileSizeLimit)")
        }
        if let problem = boundsProblem(text) {
            throw EvaluationError.invalidTask(file: file, reason: problem)
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            let message = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            throw EvaluationError.invalidTask(file: file, reason: "not valid YAML: \(message)")
        }
        guard let node else { throw EvaluationError.invalidTask(file: file, reason: "the file is empty") }
        return try value(node, file: file, key: "")
    }

    /// Why the document is too deep or expands to too many values, or nil. Syntax errors are left to
    /// Yams (which reports them with a line), so this returns nil for them.
    static func boundsProblem(_ text: String) -> String? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> String? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // Each open collection: its anchor and the values inside it so far (aliases expanded).
            var open: [(anchor: String?, values: Int)] = []
            var anchorValues: [String: Int] = [:]
            var total = 0
            func anchorName(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? { p.map { String(cString: $0) } }
            func add(_ n: Int) -> String? {
                if open.isEmpty { total += n } else { open[open.count - 1].values += n }
                let reached = open.isEmpty ? total : open[open.count - 1].values
                return reached > expandedNodeLimit
                    ? "the document expands to more than \(expandedNodeLimit) values (YAMLReading.expandedNodeLimit; aliases of aliases?)" : nil
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_SCALAR_EVENT:
                    if let a = anchorName(event.data.scalar.anchor) { anchorValues[a] = 1 }
                    if let problem = add(1) { return problem }
                case YAML_ALIAS_EVENT:
                    let n = anchorName(event.data.alias.anchor).flatMap { anchorValues[$0] } ?? 1
                    if let problem = add(n) { return problem }
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    let anchor = event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
                    open.append((anchorName(anchor), 1))
                    if open.count > nestingLimit {
                        return "mappings and lists nested more than \(nestingLimit) levels deep (YAMLReading.nestingLimit)"
                    }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let closed = open.popLast() else { return nil }
                    if let a = closed.anchor { anchorValues[a] = closed.values }
                    if let problem = add(closed.values) { return problem }
                default:
                    break
                }
            }
        }
    }

    static func value(_ node: Node, file: String, key: String) throws -> JSONValue {
        let tag = node.tag.description
        if tag.contains("function") {
            throw EvaluationError.invalidTask(file: file, reason: "\(key): Python functions (!function) are not supported; write a template instead")
        }
        switch node {
        case .scalar(let s):
            if s.style != .plain { return .string(s.string) }
            let v = s.string
            switch v {
            case "", "~", "null", "Null", "NULL": return .null
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let i = Int(v) { return .int(i) }
            if let d = Double(v), v.first.map({ $0.isNumber || $0 == "-" || $0 == "." || $0 == "+" }) == true { return .double(d) }
            return .string(v)
        case .sequence(let seq):
            return .array(try seq.map { try value($0, file: file, key: key) })
        case .mapping(let map):
            var out: [String: JSONValue] = [:]
            for (k, v) in map {
                let name = k.string ?? "\(k)"
                out[name] = try value(v, file: file, key: key.isEmpty ? name : key + "." + name)
            }
            return .object(out)
        }
    }
}
