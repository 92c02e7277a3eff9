// Hugging Face normalizers: Unicode normal forms, lowercasing, literal replacement and prepending,
// SentencePiece's precompiled charsmap, alone or in a Sequence. Applied to the text between added
// tokens, before pre-tokenization.
import Foundation

indirect enum Normalizer {
    case nfc, nfd, nfkc, nfkd, lowercase
    case replace(pattern: String, content: String)
    case prepend(String)
    /// The charsmap a .model carries, applied as tokenizers' Precompiled normalizer does.
    case precompiled(PrecompiledCharsmap)
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
        case .precompiled(let charsmap): return Self.applyPrecompiled(charsmap, text)
        case .sequence(let steps): return steps.reduce(text) { $1.apply($0) }
        }
    }

    /// tokenizers' Precompiled::normalize: per grapheme cluster, a cluster of under 6 bytes that starts
    /// with a rule is replaced whole by the shortest rule's replacement; otherwise each character is
    /// replaced by its own rule or kept. (Not sentencepiece's longest match over the text: tokenizers
    /// does it this way for its Unigram models, and hayai follows the file's tool.)
    private static func applyPrecompiled(_ charsmap: PrecompiledCharsmap, _ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        func rule(_ bytes: [UInt8]) -> [UInt8]? {
            bytes.withUnsafeBufferPointer { b in charsmap.longestMatch(b, from: 0, shortest: true).map { Array($0.replacement) } }
        }
        for grapheme in text {
            let bytes = Array(grapheme.utf8)
            if bytes.count < 6, let r = rule(bytes) { out += r; continue }
            for scalar in grapheme.unicodeScalars {
                let one = Array(String(scalar).utf8)
                out += rule(one) ?? one
            }
        }
        return String(decoding: out, as: UTF8.self)
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
        case "Precompiled":
            guard let encoded = json["precompiled_charsmap"] as? String, let blob = Data(base64Encoded: encoded) else {
                throw TokenizerError.malformedJSON(path: path, reason: "Precompiled normalizer without a base64 'precompiled_charsmap'")
            }
            do { return .precompiled(try PrecompiledCharsmap(Array(blob))) } catch let e as PrecompiledCharsmap.Malformed {
                throw TokenizerError.malformedJSON(path: path, reason: "Precompiled normalizer: \(e.reason)")
            }
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
