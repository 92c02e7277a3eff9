// YAML task files to JSONValue trees (Yams' node API), so the task parser reads one value type.
import Foundation
import Yams

enum YAMLReading {
    static func load(_ text: String, file: String) throws -> JSONValue {
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
