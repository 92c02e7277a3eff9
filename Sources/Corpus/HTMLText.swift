// HTML to plain text for the corpus: tags go, block elements become line breaks (paragraph-level ones
// a blank line), whitespace collapses except inside <pre>, entities are decoded, and what is not
// prose — <head>, scripts, styles, navigation bars, tables of contents — is dropped with its content.
import Foundation

public enum HTMLText {
    /// Elements whose whole content is dropped.
    static let skippedElements: Set<String> = ["head", "script", "style", "noscript", "template", "svg", "nav", "math", "select"]
    /// A class or id containing one of these marks navigation or boilerplate (DocBook, Publican, Sphinx).
    static let skippedClassFragments = ["navheader", "navfooter", "docnav", "breadcrumb", "toc", "banner", "sidebar",
                                        "footer", "header", "related", "search", "navigation", "menu", "skip"]
    static let paragraphElements: Set<String> = ["p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "blockquote",
                                                 "dl", "ul", "ol", "section", "article", "figure", "hr", "title"]
    static let lineElements: Set<String> = ["br", "div", "li", "tr", "dt", "dd", "caption", "figcaption", "address", "main", "body"]
    static let cellElements: Set<String> = ["td", "th"]
    static let voidElements: Set<String> = ["br", "img", "hr", "meta", "link", "input", "area", "base", "col", "embed",
                                            "param", "source", "track", "wbr"]

    public static func text(fromHTML html: String) -> String {
        let b = Array(html.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(b.count / 2)
        var i = 0
        var preDepth = 0
        var pendingSpace = false

        func emitBreak(_ n: Int) {
            pendingSpace = false
            var have = 0
            var j = out.count - 1
            while j >= 0 && out[j] == 0x0A && have < n { have += 1; j -= 1 }
            if out.isEmpty { return }
            for _ in have..<n { out.append(0x0A) }
        }
        func emitText(_ bytes: [UInt8]) {
            for c in bytes {
                if preDepth == 0 && (c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D) { pendingSpace = true; continue }
                if pendingSpace {
                    if let last = out.last, last != 0x0A { out.append(0x20) }
                    pendingSpace = false
                }
                out.append(c == 0x0D ? 0x0A : c)
            }
        }
        func starts(_ s: String, at k: Int) -> Bool {
            let u = Array(s.utf8)
            guard k + u.count <= b.count else { return false }
            for (n, c) in u.enumerated() where lower(b[k + n]) != c { return false }
            return true
        }

        var textRun: [UInt8] = []
        func flushText() {
            if !textRun.isEmpty { emitText(decodeEntities(textRun)); textRun.removeAll(keepingCapacity: true) }
        }

        while i < b.count {
            let c = b[i]
            guard c == 0x3C /* < */, i + 1 < b.count else { textRun.append(c); i += 1; continue }
            let n = b[i + 1]
            if starts("<!--", at: i) {
                flushText()
                i = find("-->", in: b, from: i + 4).map { $0 + 3 } ?? b.count
                continue
            }
            if starts("<![cdata[", at: i) {
                flushText()
                let end = find("]]>", in: b, from: i + 9) ?? b.count
                textRun.append(contentsOf: b[(i + 9)..<end])
                i = min(end + 3, b.count)
                continue
            }
            if n == 0x21 /* ! */ || n == 0x3F /* ? */ {
                flushText()
                i = (b[i...].firstIndex(of: 0x3E) ?? b.count - 1) + 1
                continue
            }
            let isClose = n == 0x2F
            let nameStart = isClose ? i + 2 : i + 1
            guard nameStart < b.count, isASCIILetter(b[nameStart]) else { textRun.append(c); i += 1; continue }
            flushText()
            let tag = parseTag(b, from: i)
            i = tag.end
            let name = tag.name
            if isClose {
                if name == "pre" { preDepth = max(0, preDepth - 1) }
                if paragraphElements.contains(name) { emitBreak(2) }
                else if lineElements.contains(name) { emitBreak(1) }
                else if cellElements.contains(name) { pendingSpace = true }
                continue
            }
            if !voidElements.contains(name) && !tag.selfClosing && (skippedElements.contains(name) || isBoilerplate(tag.attributes)) {
                i = skipElement(b, name: name, from: i)
                continue
            }
            if name == "pre" && !tag.selfClosing { emitBreak(2); preDepth += 1; continue }
            if paragraphElements.contains(name) { emitBreak(2) }
            else if lineElements.contains(name) { emitBreak(1) }
            else if cellElements.contains(name) { pendingSpace = true }
            else if name == "img", let alt = attribute("alt", in: tag.attributes), !alt.isEmpty {
                emitText(decodeEntities(Array(alt.utf8)))
            }
        }
        flushText()
        return TextNormalization.normalize(String(decoding: out, as: UTF8.self))
    }

    // MARK: Tags

    struct Tag { var name: String; var attributes: String; var selfClosing: Bool; var end: Int }

    /// The tag starting at `b[start] == "<"`: its lower-cased name, its attribute text and where it ends.
    static func parseTag(_ b: [UInt8], from start: Int) -> Tag {
        var i = start + 1
        if i < b.count && b[i] == 0x2F { i += 1 }
        let nameStart = i
        while i < b.count && (isASCIILetter(b[i]) || (b[i] >= 0x30 && b[i] <= 0x39) || b[i] == 0x2D || b[i] == 0x3A) { i += 1 }
        let name = String(decoding: b[nameStart..<i].map(lower), as: UTF8.self)
        let attributesStart = i
        var quote: UInt8 = 0
        while i < b.count {
            let c = b[i]
            if quote != 0 { if c == quote { quote = 0 } }
            else if c == 0x22 || c == 0x27 { quote = c }
            else if c == 0x3E { break }
            i += 1
        }
        let attributes = String(decoding: b[attributesStart..<min(i, b.count)], as: UTF8.self)
        let selfClosing = i > attributesStart && b[i - 1] == 0x2F
        return Tag(name: name, attributes: attributes, selfClosing: selfClosing, end: min(i + 1, b.count))
    }

    static func isBoilerplate(_ attributes: String) -> Bool {
        guard !attributes.isEmpty else { return false }
        for key in ["class", "id", "role"] {
            guard let value = attribute(key, in: attributes)?.lowercased() else { continue }
            for word in value.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                for fragment in skippedClassFragments where word.contains(fragment) {
                    // "toc" inside e.g. "photocopy" is not a table of contents.
                    if fragment == "toc" && !(word == "toc" || word.hasPrefix("toc") || word.hasSuffix("toc")) { continue }
                    return true
                }
            }
        }
        return false
    }

    static func attribute(_ key: String, in attributes: String) -> String? {
        let lowered = attributes.lowercased()
        var search = lowered.startIndex
        while let r = lowered.range(of: key, range: search..<lowered.endIndex) {
            search = r.upperBound
            if r.lowerBound > lowered.startIndex {
                let before = lowered[lowered.index(before: r.lowerBound)]
                if !(before == " " || before == "\t" || before == "\n") { continue }
            }
            var j = r.upperBound
            while j < lowered.endIndex && lowered[j] == " " { j = lowered.index(after: j) }
            guard j < lowered.endIndex, lowered[j] == "=" else { continue }
            j = lowered.index(after: j)
            while j < lowered.endIndex && lowered[j] == " " { j = lowered.index(after: j) }
            guard j < lowered.endIndex else { return "" }
            // Offsets in `lowered` match `attributes` (lower-casing ASCII keeps lengths; values are read from the original).
            let offset = lowered.distance(from: lowered.startIndex, to: j)
            let original = attributes.index(attributes.startIndex, offsetBy: offset, limitedBy: attributes.endIndex) ?? attributes.endIndex
            let q = attributes[original]
            if q == "\"" || q == "'" {
                let rest = attributes[attributes.index(after: original)...]
                return String(rest.prefix { $0 != q })
            }
            return String(attributes[original...].prefix { !$0.isWhitespace && $0 != ">" })
        }
        return nil
    }

    /// The position after the end tag that closes the element `name` opened just before `from`.
    static func skipElement(_ b: [UInt8], name: String, from: Int) -> Int {
        var depth = 1
        var i = from
        let raw = name == "script" || name == "style"
        while i < b.count {
            guard b[i] == 0x3C else { i += 1; continue }
            if !raw && i + 3 < b.count && b[i + 1] == 0x21 && b[i + 2] == 0x2D && b[i + 3] == 0x2D {
                i = find("-->", in: b, from: i + 4).map { $0 + 3 } ?? b.count
                continue
            }
            let isClose = i + 1 < b.count && b[i + 1] == 0x2F
            let start = isClose ? i + 2 : i + 1
            guard start < b.count, isASCIILetter(b[start]) else { i += 1; continue }
            let tag = parseTag(b, from: i)
            if tag.name == name {
                if isClose { depth -= 1; if depth == 0 { return tag.end } }
                else if !raw && !tag.selfClosing { depth += 1 }
            }
            i = raw ? i + 1 : tag.end
        }
        return b.count
    }

    // MARK: Entities

    static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "ensp": " ", "emsp": " ", "thinsp": " ",
        "copy": "©", "reg": "®", "trade": "™", "mdash": "—", "ndash": "–", "hellip": "…", "lsquo": "‘", "rsquo": "’",
        "ldquo": "“", "rdquo": "”", "laquo": "«", "raquo": "»", "middot": "·", "bull": "•", "times": "×", "divide": "÷",
        "deg": "°", "para": "¶", "sect": "§", "euro": "€", "yen": "¥", "pound": "£", "cent": "¢", "shy": "",
        "zwj": "", "zwnj": "", "larr": "←", "rarr": "→", "uarr": "↑", "darr": "↓", "harr": "↔", "le": "≤", "ge": "≥",
        "ne": "≠", "plusmn": "±", "minus": "−", "micro": "µ", "iexcl": "¡", "iquest": "¿", "acute": "´", "uml": "¨",
        "eacute": "é", "egrave": "è", "ecirc": "ê", "aacute": "á", "agrave": "à", "acirc": "â", "auml": "ä", "ouml": "ö",
        "uuml": "ü", "szlig": "ß", "ccedil": "ç", "ntilde": "ñ", "oacute": "ó", "iacute": "í", "uacute": "ú",
        "Auml": "Ä", "Ouml": "Ö", "Uuml": "Ü", "Eacute": "É", "aring": "å", "oslash": "ø", "aelig": "æ",
        "prime": "′", "Prime": "″", "sup2": "²", "frac12": "½", "frac14": "¼", "frac34": "¾", "dagger": "†",
    ]

    static func decodeEntities(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x26) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            guard bytes[i] == 0x26 else { out.append(bytes[i]); i += 1; continue }
            var j = i + 1
            while j < bytes.count && j - i <= 32 && bytes[j] != 0x3B && bytes[j] != 0x26 && bytes[j] != 0x20 && bytes[j] != 0x3C { j += 1 }
            guard j < bytes.count, bytes[j] == 0x3B, j > i + 1 else { out.append(0x26); i += 1; continue }
            let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
            var replacement: String? = namedEntities[name]
            if name.hasPrefix("#") {
                let digits = name.dropFirst()
                let value = digits.hasPrefix("x") || digits.hasPrefix("X") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
                if let v = value, let s = Unicode.Scalar(v), v != 0 { replacement = String(Character(s)) }
            }
            if let r = replacement { out.append(contentsOf: Array(r.utf8)); i = j + 1 } else { out.append(0x26); i += 1 }
        }
        return out
    }

    // MARK: Bytes

    @inline(__always) static func isASCIILetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 0x41 && c <= 0x5A ? c | 0x20 : c }

    static func find(_ needle: String, in b: [UInt8], from: Int) -> Int? {
        let n = Array(needle.utf8)
        guard n.count > 0, b.count >= n.count else { return nil }
        var i = from
        while i + n.count <= b.count {
            if b[i] == n[0] {
                var k = 1
                while k < n.count && b[i + k] == n[k] { k += 1 }
                if k == n.count { return i }
            }
            i += 1
        }
        return nil
    }
}
