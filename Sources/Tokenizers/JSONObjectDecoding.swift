// tokenizer.json and tokenizer_config.json as plain dictionaries, read with JSONDecoder rather than
// JSONSerialization: on Linux JSONSerialization drops a U+FEFF at the start of a string, and
// SentencePiece vocabularies hold "\u{FEFF}" as a piece. Numbers come out as Int when whole and
// small enough, else Double; objects as [String: Any], arrays as [Any], null as NSNull.
import Foundation

struct AnyJSON: Decodable {
    let value: Any

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { value = NSNull() }
        else if let b = try? c.decode(Bool.self) { value = b }
        else if let i = try? c.decode(Int.self) { value = i }
        else if let d = try? c.decode(Double.self) { value = d }
        else if let s = try? c.decode(String.self) { value = s }
        else if let a = try? c.decode([AnyJSON].self) { value = a.map(\.value) }
        else { value = try c.decode([String: AnyJSON].self).mapValues(\.value) }
    }

    static func object(from data: Data) throws -> Any { try JSONDecoder().decode(AnyJSON.self, from: data).value }
}

/// A JSON number as Float (Int or Double).
func jsonFloat(_ value: Any?) -> Float? {
    if let d = value as? Double { return Float(d) }
    if let i = value as? Int { return Float(i) }
    return nil
}

/// The members of one object inside a JSON text, in file order, as (key, value) with each value decoded by
/// AnyJSON. Dictionaries keyed by String (JSONDecoder's, JSONSerialization's) keep one of two keys that are
/// canonically equivalent ("ά" U+1F71 and U+03AC), and SentencePiece vocabularies hold such pairs as two
/// pieces; this reader keeps both. `path` names the object: keys from the top level down.
enum JSONObjectMembers {
    static func read(_ data: Data, path: [String]) throws -> [(String, Any)]? {
        var reader = Reader(bytes: [UInt8](data))
        return try reader.members(at: path[...])
    }

    struct Malformed: Error {}

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        mutating func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }

        mutating func expect(_ b: UInt8) throws {
            skipSpace()
            guard i < bytes.count, bytes[i] == b else { throw Malformed() }
            i += 1
        }

        /// The object at `path` below the value starting here (nil when absent), leaving `i` after this value.
        mutating func members(at path: ArraySlice<String>) throws -> [(String, Any)]? {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { try skipValue(); return nil }
            i += 1
            var found: [(String, Any)]? = nil
            var pairs: [(String, Any)] = []
            skipSpace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return path.isEmpty ? [] : nil }
            while true {
                let key = try string()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                let start = i
                if let first = path.first, key == first, found == nil {
                    found = try members(at: path.dropFirst())
                } else {
                    try skipValue()
                }
                if path.isEmpty { pairs.append((key, try value(bytes[start..<i]))) }
                skipSpace()
                guard i < bytes.count else { throw Malformed() }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw Malformed() }
                i += 1
                return path.isEmpty ? pairs : found
            }
        }

        /// A string literal decoded (escapes by JSONDecoder, which keeps the scalars as written).
        mutating func string() throws -> String {
            skipSpace()
            let start = i
            try skipString()
            let inner = bytes[start + 1..<i - 1]
            if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
            return try JSONDecoder().decode(String.self, from: Data(bytes[start..<i]))
        }

        /// A member's value: a plain integer read directly (a vocabulary's tens of thousands of ids), else AnyJSON.
        func value(_ text: ArraySlice<UInt8>) throws -> Any {
            if !text.isEmpty, text.count < 19, text.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
                return text.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            }
            return try AnyJSON.object(from: Data(text))
        }

        mutating func skipString() throws {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw Malformed() }
            i += 1
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
            guard i < bytes.count else { throw Malformed() }
            i += 1
        }

        /// Skips one value: strings by their quotes, objects and arrays by depth, scalars to the next delimiter.
        mutating func skipValue() throws {
            skipSpace()
            guard i < bytes.count else { throw Malformed() }
            if bytes[i] == UInt8(ascii: "\"") { return try skipString() }
            var depth = 0
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""): try skipString(); if depth == 0 { return }; continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { return }
                    depth -= 1
                    if depth == 0 { i += 1; return }
                case UInt8(ascii: ","): if depth == 0 { return }
                default: break
                }
                i += 1
            }
            if depth > 0 { throw Malformed() }
        }
    }
}
