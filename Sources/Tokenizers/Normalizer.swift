// Hugging Face normalizers: Unicode normal forms, lowercasing, literal replacement and prepending,
// alone or in a Sequence. Applied to the text between added tokens, before pre-tokenization.
import Foundation

indirect enum Normalizer {
    case nfc, nfd, nfkc, nfkd, lowercase
    case replace(pattern: String, content: String)
    case prepend(String)
    case sequence([Normalizer])

    func apply(_ text: String) -> String {
        switch self {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return text.decomposedStringWithCanonicalMapping
        // Foundation on Linux leaves some compositions undone after the compatibility mapping
        // ("ｶﾞ" stays U+30AB U+3099): composing again gives NFKC's "ガ".
        case .nfkc: return text.precomposedStringWithCompatibilityMapping.precomposedStringWithCanonicalMapping
        case .nfkd: return text.decomposedStringWithCompatibilityMapping
        case .lowercase: return text.lowercased()
        case .replace(let pattern, let content): return replacingBytes(text, pattern, content)
        case .prepend(let prefix): return text.isEmpty ? text : prefix + text
        case .sequence(let steps): return steps.reduce(text) { $1.apply($0) }
        }
    }

    /// Parses a tokenizer.json `normalizer` object.
    static func parse(_ json: [String: Any], path: String) throws -> Normalizer {
        let type = json["type"] as? String ?? "?"
        switch type {
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Lowercase": return .lowercase
        case "Prepend":
            guard let p = json["prepend"] as? String else { throw TokenizerError.malformedJSON(path: path, reason: "Prepend normalizer without 'prepend'") }
            return .prepend(p)
        case "Replace":
            guard let pattern = (json["pattern"] as? [String: Any])?["String"] as? String,
                  let content = json["content"] as? String else {
                throw TokenizerError.unsupportedComponent(path: path, what: "Replace normalizer with a regex pattern")
            }
            return .replace(pattern: pattern, content: content)
        case "Sequence":
            guard let steps = json["normalizers"] as? [[String: Any]] else {
                throw TokenizerError.malformedJSON(path: path, reason: "Sequence normalizer without 'normalizers'")
            }
            return .sequence(try steps.map { try parse($0, path: path) })
        default:
            throw TokenizerError.unsupportedComponent(path: path, what: "normalizer '\(type)'")
        }
    }
}
