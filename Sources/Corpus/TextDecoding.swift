// Reading input text that should be UTF-8: a valid file is taken whole; otherwise it is read line by
// line and each invalid line is dropped and reported by its 1-based number, so one bad byte costs a
// line, not the file.
import Foundation

public struct DecodedText {
    public var text: String
    /// 1-based numbers of the lines that were not valid UTF-8 (dropped from `text`).
    public var invalidLines: [Int]
}

public enum TextDecoding {
    public static func decodeUTF8Lines(_ data: Data) -> DecodedText {
        if let text = String(validating: data, as: UTF8.self) { return DecodedText(text: text, invalidLines: []) }
        var kept: [UInt8] = []
        kept.reserveCapacity(data.count)
        var invalid: [Int] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var start = 0, lineNumber = 1
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                if String(validating: line, as: UTF8.self) != nil {
                    kept.append(contentsOf: line)
                    if end < bytes.count { kept.append(0x0A) }
                } else {
                    invalid.append(lineNumber)
                }
                start = end + 1
                lineNumber += 1
            }
        }
        return DecodedText(text: String(decoding: kept, as: UTF8.self), invalidLines: invalid)
    }

    /// An HTML file's text: the charset its <meta> names when that is Latin-1 or Windows-1252,
    /// UTF-8 (line by line) otherwise.
    public static func decodeHTML(_ data: Data) -> DecodedText {
        let head = String(decoding: data.prefix(2048), as: UTF8.self).lowercased()
        if let r = head.range(of: "charset=") {
            let name = head[r.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                .prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
            switch name {
            case "iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii":
                if String(validating: data, as: UTF8.self) == nil, let s = String(data: data, encoding: .isoLatin1) {
                    return DecodedText(text: s, invalidLines: [])
                }
            case "windows-1252", "cp1252":
                if String(validating: data, as: UTF8.self) == nil, let s = String(data: data, encoding: .windowsCP1252) {
                    return DecodedText(text: s, invalidLines: [])
                }
            default: break
            }
        }
        return decodeUTF8Lines(data)
    }
}
