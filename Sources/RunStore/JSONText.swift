// Small JSON helpers: the store keeps JSON as text, and exports write numbers in Swift's shortest
// round-trip form (0.1, not 0.10000000000000001) with non-finite values as null (JSON has no NaN).
import Basics
import Foundation

enum JSONText {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        try requireObject(text, what: "the encoded config")
        return text
    }

    @discardableResult
    static func parseObject(_ text: String, what: String) throws -> [String: JSONValue] {
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw RunStoreError.invalidJSON(what: what, reason: "\(error)")
        }
        guard case .object(let object) = value else {
            throw RunStoreError.invalidJSON(what: what, reason: "expected an object ({...})")
        }
        return object
    }

    static func requireObject(_ text: String, what: String) throws { try parseObject(text, what: what) }

    static func number(_ value: Double) -> String { JSONLiteral.number(value) }
    static func string(_ value: String) -> String { JSONLiteral.string(value) }
    static func object(_ pairs: [(String, String)]) -> String { JSONLiteral.object(pairs) }

    /// A summary object: finite numbers only, keys sorted.
    static func numbers(_ values: [String: Double]) -> String {
        object(values.filter { $0.value.isFinite }.sorted { $0.key < $1.key }.map { ($0.key, number($0.value)) })
    }
}
