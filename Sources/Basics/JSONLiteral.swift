// JSON text written by hand where an encoder does not fit (streamed exports, files whose key order is
// part of the format, logits): one rule for string literals and numbers, used by every writer.
import Foundation

public enum JSONLiteral {
    /// A JSON string literal, quotes included. UTF-8 stays as is; `"`, `\` and control characters are
    /// escaped, and so are DEL and U+2028/U+2029 (legal JSON, but not in JavaScript source or some viewers).
    ///
    /// `python`: exactly as Python's `json.dumps(..., ensure_ascii=False)` writes it (`\b` and `\f` short,
    /// DEL and U+2028/U+2029 as they are), for text whose hash must equal one Python computed.
    public static func string(_ value: String, python: Bool = false) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}" where python: out += "\\b"
            case "\u{0C}" where python: out += "\\f"
            case _ where scalar.value < 0x20 || (!python && (scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}")):
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A number in Swift's shortest round-trip form; non-finite values as null (JSON has no NaN).
    public static func number(_ value: Double) -> String { value.isFinite ? "\(value)" : "null" }
    public static func number(_ value: Float) -> String { value.isFinite ? "\(value)" : "null" }

    /// `{"key": value, ...}` with keys in the given order (values already JSON text).
    public static func object(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}
