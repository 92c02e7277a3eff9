// Any JSON value, decoded with JSONDecoder. The store reads config and summary text through this
// rather than JSONSerialization, whose parser on Linux rounds some doubles (10.801986733067553 came
// back as ...551); JSONDecoder keeps every bit, and numbers are written back in Swift's shortest
// round-trip form.
import Foundation

public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let v): try container.encode(v)
        case .int(let v): try container.encode(v)
        case .double(let v): try container.encode(v)
        case .string(let v): try container.encode(v)
        case .array(let v): try container.encode(v)
        case .object(let v): try container.encode(v)
        }
    }

    /// Parses JSON text.
    public static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Compact JSON text, object keys sorted; non-finite doubles as null.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return v ? "true" : "false"
        case .int(let v): return "\(v)"
        case .double(let v): return JSONText.number(v)
        case .string(let v): return JSONText.string(v)
        case .array(let v): return "[" + v.map(\.text).joined(separator: ", ") + "]"
        case .object(let v): return JSONText.object(v.sorted { $0.key < $1.key }.map { ($0.key, $0.value.text) })
        }
    }

    /// The value as JSONSerialization's objects (NSNull, Bool, Int64, Double, String, arrays, dictionaries).
    public var foundationObject: Any {
        switch self {
        case .null: return NSNull()
        case .bool(let v): return v
        case .int(let v): return v
        case .double(let v): return v.isFinite ? v : NSNull()
        case .string(let v): return v
        case .array(let v): return v.map(\.foundationObject)
        case .object(let v): return v.mapValues(\.foundationObject)
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let v): return v
        default: return nil
        }
    }
}

extension Run {
    /// `config` decoded; empty when it is not a JSON object.
    public var configValues: [String: JSONValue] {
        if case .object(let values)? = try? JSONValue.parse(config) { return values }
        return [:]
    }
}
