// Errors raised while reading and writing checkpoint files. Every message names the file and what is
// wrong, in one line, so the CLI can print it as is.
import Foundation

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case truncated(path: String, what: String)
    case malformed(path: String, what: String)
    case unsupportedVersion(path: String, version: UInt32)
    case badMagic(path: String)
    case unknownDType(path: String, tensor: String, dtype: String)
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, tensor: String, expected: [Int], found: [Int])
    case unknownArchitecture(path: String, name: String)
    case invalidConfig(path: String, what: String)
    case cannotWrite(path: String, reason: String)

    /// One line, whatever the file held: control characters in names taken from a corrupt file are escaped.
    public var description: String {
        var line = ""
        for scalar in message.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                line += scalar.escaped(asASCII: true)
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        return line
    }

    private var message: String {
        switch self {
        case .cannotOpen(let p, let r): return "\(p): cannot open: \(r)"
        case .truncated(let p, let w): return "\(p): file is truncated: \(w)"
        case .malformed(let p, let w): return "\(p): malformed: \(w)"
        case .unsupportedVersion(let p, let v): return "\(p): unsupported GGUF version \(v) (supported: 2, 3)"
        case .badMagic(let p): return "\(p): not a GGUF file (bad magic)"
        case .unknownDType(let p, let t, let d): return "\(p): tensor \(t) has unknown or unsupported dtype \(d)"
        case .missingTensor(let p, let n): return "\(p): missing tensor \(n)"
        case .shapeMismatch(let p, let t, let e, let f):
            return "\(p): tensor \(t) has shape \(f), but the config implies \(e)"
        case .unknownArchitecture(let p, let n):
            return "\(p): unknown architecture '\(n)' (supported: stablelm, gpt_neox, llama, mistral)"
        case .invalidConfig(let p, let w): return "\(p): invalid config: \(w)"
        case .cannotWrite(let p, let r): return "\(p): cannot write: \(r)"
        }
    }
}

extension CheckpointError: LocalizedError {
    public var errorDescription: String? { description }
}
