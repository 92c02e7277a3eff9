// Values written as lm-evaluation-harness's Python writes them, so that hashes over that text agree:
// `json.dumps(doc, indent=2, ensure_ascii=False)` (keys in the order the data file gives them, as
// Hugging Face `datasets` keeps its columns), `str(value)` for targets, `repr(float)` for responses.
import Foundation

public enum PythonText {
    /// Key order per object path ("" the item, "choices", "answers", "a/[]" for objects inside a list),
    /// by first appearance in a data file: `datasets` makes columns in that order.
    public struct KeyOrder: Sendable, Equatable {
        public var keys: [String: [String]] = [:]
        public init() {}

        /// Orders `object`'s keys at `path`: known keys first in file order, any others sorted after them.
        func ordered(_ object: [String: JSONValue], path: String) -> [String] {
            let known = (keys[path] ?? []).filter { object[$0] != nil }
            let rest = object.keys.filter { !known.contains($0) }.sorted()
            return known + rest
        }

        /// The order of keys in the JSON text (a JSON array of objects, JSON Lines, or one object).
        public static func scan(_ text: String) -> KeyOrder {
            var order = KeyOrder()
            var scanner = Scanner(bytes: Array(text.utf8))
            // A JSON array file holds the items themselves; JSON Lines one item a line.
            if scanner.skipSpace(), scanner.bytes[scanner.index] == UInt8(ascii: "[") { scanner.index += 1 }
            while scanner.skipSpace() {
                let before = scanner.index
                if !scanner.value(path: "", order: &order) || scanner.index == before { scanner.index = before + 1 }
            }
            return order
        }
    }

    /// `json.dumps(value, indent=2, ensure_ascii=False)` (indent nil: the one-line form with ", " and ": ").
    public static func jsonDumps(_ value: JSONValue, indent: Int? = nil, keyOrder: KeyOrder = KeyOrder(), path: String = "") -> String {
        func dump(_ v: JSONValue, _ path: String, _ depth: Int) -> String {
            let (open, sep, close): (String, String, String)
            if let indent {
                let inner = "\n" + String(repeating: " ", count: indent * (depth + 1))
                (open, sep, close) = (inner, "," + inner, "\n" + String(repeating: " ", count: indent * depth))
            } else {
                (open, sep, close) = ("", ", ", "")
            }
            switch v {
            case .array(let items):
                if items.isEmpty { return "[]" }
                return "[" + open + items.map { dump($0, path + "/[]", depth + 1) }.joined(separator: sep) + close + "]"
            case .object(let o):
                if o.isEmpty { return "{}" }
                let keys = keyOrder.ordered(o, path: path)
                return "{" + open + keys.map { string($0) + ": " + dump(o[$0]!, path.isEmpty ? $0 : path + "/" + $0, depth + 1) }
                    .joined(separator: sep) + close + "}"
            default:
                return scalar(v)
            }
        }
        return dump(value, path, 0)
    }

    /// `str(value)` as Python prints a `datasets` value: text bare, numbers and lists as `repr`.
    public static func str(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return repr(value)
    }

    /// Python's `repr`: strings quoted with ' (or " when they hold ' and no "), True/False/None.
    public static func repr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return float(d)
        case .string(let s):
            let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = String(quote)
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where Character(scalar) == quote: out += "\\" + String(quote)
                case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += String(format: "\\x%02x", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + String(quote)
        case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.keys.sorted().map { repr(.string($0)) + ": " + repr(o[$0]!) }.joined(separator: ", ") + "}"
        }
    }

    /// `repr(float)`: the shortest text that reads back to the same double (Swift's description agrees,
    /// "1e-05" and "1e+16" included); inf and nan as Python spells them.
    public static func float(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d > 0 ? "inf" : "-inf" }
        return "\(d)"
    }

    static func scalar(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? float(d) : (d.isNaN ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"))
        case .string(let s): return string(s)
        case .array, .object: return jsonDumps(v)
        }
    }

    /// A JSON string literal as Python's json module writes it with ensure_ascii=False.
    static func string(_ s: String) -> String { JSONLiteral.string(s, python: true) }

    /// Just enough of a JSON reader to see keys in order (values are parsed elsewhere).
    struct Scanner {
        var bytes: [UInt8]
        var index = 0

        /// Skips white space; false at the end.
        mutating func skipSpace() -> Bool {
            while index < bytes.count, [0x20, 0x0A, 0x0D, 0x09, 0x2C].contains(bytes[index]) { index += 1 }
            return index < bytes.count
        }

        /// Reads one value, recording object keys under `path`; false when the text is not JSON here.
        mutating func value(path: String, order: inout KeyOrder) -> Bool {
            guard skipSpace() else { return false }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                while skipSpace(), bytes[index] != UInt8(ascii: "}") {
                    guard bytes[index] == UInt8(ascii: "\""), let key = string(decode: true) else { return false }
                    if !(order.keys[path] ?? []).contains(key) { order.keys[path, default: []].append(key) }
                    guard skipSpace(), bytes[index] == UInt8(ascii: ":") else { return false }
                    index += 1
                    guard value(path: path.isEmpty ? key : path + "/" + key, order: &order) else { return false }
                }
                index += 1
                return true
            case UInt8(ascii: "["):
                index += 1
                while skipSpace(), bytes[index] != UInt8(ascii: "]") {
                    guard value(path: path + "/[]", order: &order) else { return false }
                }
                index += 1
                return true
            case UInt8(ascii: "\""):
                return string(decode: false) != nil
            default:
                let start = index
                while index < bytes.count, !",}] \n\r\t".utf8.contains(bytes[index]) { index += 1 }
                return index > start
            }
        }

        /// A string literal at `index`: decoded when asked (keys), else passed over ("" for it).
        mutating func string(decode: Bool) -> String? {
            let start = index
            index += 1
            var escaped = false, hasEscape = false
            while index < bytes.count {
                let b = bytes[index]
                index += 1
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true; hasEscape = true } else if b == UInt8(ascii: "\"") {
                    guard decode else { return "" }
                    if !hasEscape { return String(decoding: bytes[(start + 1)..<(index - 1)], as: UTF8.self) }
                    if case .string(let key)? = try? JSONValue.parse(Data(bytes[start..<index])) { return key }
                    return nil
                }
            }
            return nil
        }
    }
}
