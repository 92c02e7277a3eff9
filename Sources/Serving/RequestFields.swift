// Reading an OpenAI request's JSON fields with their types checked: a field of the wrong type is a
// 400 naming it, never a silent default. Unknown fields are ignored, as OpenAI-compatible servers do
// (clients send fields of newer API versions).
import Basics
import Foundation

struct RequestFields {
    let object: [String: JSONValue]

    init(body: Data) throws {
        guard let value = try? JSONValue.parse(body) else { throw OpenAIError.malformedJSON }
        guard case .object(let object) = value else { throw OpenAIError.invalid(nil, "the request body must be a JSON object") }
        self.object = object
    }

    func isPresent(_ key: String) -> Bool {
        if let v = object[key], v != .null { return true }
        return false
    }

    func string(_ key: String) throws -> String? {
        switch object[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw OpenAIError.invalid(key, "'\(key)' must be a string")
        }
    }

    func bool(_ key: String) throws -> Bool? {
        switch object[key] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw OpenAIError.invalid(key, "'\(key)' must be true or false")
        }
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        let value: Int
        switch object[key] {
        case nil, .null?: return nil
        case .int(let i)?: value = i
        case .double(let d)? where d == d.rounded() && abs(d) < 1e15: value = Int(d)
        default: throw OpenAIError.invalid(key, "'\(key)' must be an integer")
        }
        guard range.contains(value) else {
            throw OpenAIError.invalid(key, "'\(key)' must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
        }
        return value
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        let value: Double
        switch object[key] {
        case nil, .null?: return nil
        case .int(let i)?: value = Double(i)
        case .double(let d)?: value = d
        default: throw OpenAIError.invalid(key, "'\(key)' must be a number")
        }
        guard range.contains(value) else {
            throw OpenAIError.invalid(key, "'\(key)' must be between \(range.lowerBound) and \(range.upperBound) (got \(value))")
        }
        return value
    }

    /// `stop`: a string or a list of strings (OpenAI allows up to 4; more are accepted).
    func stopStrings() throws -> [String] {
        switch object["stop"] {
        case nil, .null?: return []
        case .string(let s)?: return s.isEmpty ? [] : [s]
        case .array(let list)?:
            return try list.map {
                guard case .string(let s) = $0 else { throw OpenAIError.invalid("stop", "'stop' must be a string or a list of strings") }
                return s
            }.filter { !$0.isEmpty }
        default: throw OpenAIError.invalid("stop", "'stop' must be a string or a list of strings")
        }
    }
}
