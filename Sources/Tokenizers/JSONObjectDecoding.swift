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
