// How a dataset item's values read in prompts and templates (Basics' JSONValue is the item itself):
// strings bare, numbers as Python prints them (lm-eval's templates are Jinja over Python values).
// JSONValue is part of this module's API (ItemResult.doc), so Basics comes with it.
@_exported import Basics

extension JSONValue {
    /// Text as a template or a prompt shows it (strings bare, numbers as Python prints ints).
    public var text: String {
        switch self {
        case .null: return ""
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : String(d)
        case .string(let s): return s
        case .array, .object: return description
        }
    }

    /// Plain Swift values for the template engine.
    var templateValue: Any {
        switch self {
        case .null: return ""
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(\.templateValue)
        case .object(let o): return o.mapValues(\.templateValue)
        }
    }
}
