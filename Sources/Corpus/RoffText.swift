// man(7)/roff source to plain text, without groff: requests become paragraph breaks or are dropped,
// font macros (.B, .IR, ...) keep their words, section headings stay as lines, tables keep their
// cells, macro definitions and ignored blocks vanish, and escapes (\fB, \-, \(em, \*(R, \s-1, ...)
// become the characters they print.
import Foundation

public enum RoffText {
    /// Requests after which a new paragraph starts.
    static let paragraphRequests: Set<String> = ["PP", "LP", "P", "TP", "TQ", "IP", "HP", "SH", "SS", "sp", "RS", "RE", "Sh", "Ss", "Pp", "Bl", "El", "It", "Bd", "Ed"]
    /// Requests whose arguments are text to keep (font and heading macros; mdoc's common ones too).
    static let textRequests: Set<String> = ["B", "I", "SM", "SB", "SH", "SS", "Sh", "Ss", "Nm", "Nd", "Ar", "Fl", "Pa", "Em", "Sy", "Li", "Dq", "Qq", "Sq", "Ql", "Xr", "Cm", "Ic", "Ev", "Va", "Fn", "Ft", "Fa", "Dv", "Er", "Op", "It", "UR", "MT"]
    /// Font macros that alternate two fonts and join their arguments without spaces.
    static let alternatingRequests: Set<String> = ["BR", "RB", "IR", "RI", "BI", "IB"]

    public static func text(fromRoff source: String) -> String {
        var out = ""
        out.reserveCapacity(source.utf8.count)
        var skipUntil: String? = nil  // ".." ends .de/.ig blocks; a named terminator for .ig xx
        var inTable = false, tableFormat = false
        var tableTab: Character = "\t"
        var lastWasBreak = true

        func paragraph() {
            if !out.isEmpty && !out.hasSuffix("\n\n") { out += out.hasSuffix("\n") ? "\n" : "\n\n" }
            lastWasBreak = true
        }
        func line(_ text: String) {
            let t = text.trimmingCharacters(in: .whitespaces)
            guard !t.isEmpty else { return }
            out += t
            out += "\n"
            lastWasBreak = false
        }

        var lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Continuation lines: a trailing backslash joins the next line.
        var joined: [String] = []
        var pending = ""
        for l in lines {
            if l.hasSuffix("\\") && !l.hasSuffix("\\\\") { pending += l.dropLast(); continue }
            joined.append(pending + l)
            pending = ""
        }
        if !pending.isEmpty { joined.append(pending) }
        lines = joined

        for raw in lines {
            if let end = skipUntil {
                if raw.trimmingCharacters(in: .whitespaces) == end { skipUntil = nil }
                continue
            }
            guard raw.hasPrefix(".") || raw.hasPrefix("'") else {
                if inTable && tableFormat {
                    // Options end with ";", the format lines with "."; the data follows.
                    if let r = raw.range(of: "tab("), r.upperBound < raw.endIndex { tableTab = raw[r.upperBound] }
                    if raw.trimmingCharacters(in: .whitespaces).hasSuffix(".") { tableFormat = false }
                    continue
                }
                if inTable {
                    line(unescape(raw).replacingOccurrences(of: String(tableTab), with: " ").replacingOccurrences(of: "T{", with: "").replacingOccurrences(of: "T}", with: ""))
                    continue
                }
                if raw.trimmingCharacters(in: .whitespaces).isEmpty { paragraph(); continue }
                line(unescape(raw))
                continue
            }
            // A request: ".NAME args".
            let body = raw.dropFirst().drop { $0 == " " || $0 == "\t" }
            if body.hasPrefix("\\\"") || body.isEmpty { continue }  // comment or empty request
            let name = String(body.prefix { $0 != " " && $0 != "\t" })
            let argumentText = String(body.dropFirst(name.count)).trimmingCharacters(in: .whitespaces)
            if inTable {
                if name == "TE" { inTable = false; paragraph() }
                continue
            }
            switch name {
            case "de", "de1", "am", "ds", "ig":
                if name == "ds" { continue }
                let args = arguments(argumentText)
                skipUntil = name == "ig" && args.count >= 1 ? "." + args[0] : ".."
            case "EQ", "PS", "G1":
                // eqn, pic and grap blocks are not prose.
                skipUntil = name == "EQ" ? ".EN" : name == "PS" ? ".PE" : ".G2"
            case "TS":
                inTable = true; tableFormat = true; tableTab = "\t"
                paragraph()
            case "so", "TH", "Dd", "Dt", "Os", "nh", "hy", "ad", "na", "ne", "ft", "ps", "vs", "in", "ti", "ll", "ta",
                 "nr", "rr", "rm", "ie", "if", "el", "ev", "tr", "cc", "c2", "ec", "eo", "lf", "mso", "pc", "PD", "UC",
                 "AT", "DT", "ce", "fam", "ss", "cs", "bp", "pl", "ns", "rs", "fi", "nf", "br", "EX", "EE", "UE", "ME",
                 "hw", "lg", "ul", "cu", "po", "mk", "rt", "wh", "ch", "it", "tm", "ab", "ex", "do", "OP", "YS", "SY", "Bk", "Ek":
                if name == "br" || name == "nf" || name == "fi" || name == "EX" || name == "EE" || name == "YS" {
                    if !lastWasBreak && !out.hasSuffix("\n") { out += "\n" }
                }
                if name == "SY" || name == "OP" {
                    let args = arguments(argumentText).map(unescape)
                    if !args.isEmpty { line((name == "OP" ? "[" + args.joined(separator: " ") + "]" : args.joined(separator: " "))) }
                }
                continue
            default:
                if paragraphRequests.contains(name) { paragraph() }
                let args = arguments(argumentText).map(unescape)
                if alternatingRequests.contains(name) {
                    line(args.joined())
                } else if textRequests.contains(name) || name == "IP" || name == "TQ" {
                    if name == "IP" { if let first = args.first { line(first) } }
                    else if !args.isEmpty { line(args.joined(separator: " ")) }
                    if name == "SH" || name == "SS" || name == "Sh" || name == "Ss" { out += "\n"; lastWasBreak = true }
                }
            }
        }
        return TextNormalization.normalize(out)
    }

    /// Splits request arguments on spaces, honouring double quotes ("" inside quotes is a quote).
    static func arguments(_ text: String) -> [String] {
        var args: [String] = []
        var current = ""
        var inQuotes = false, hasArg = false
        var chars = Array(text)
        var i = 0
        if let c = text.range(of: "\\\"") { chars = Array(text[..<c.lowerBound]) }
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" { current.append("\""); i += 2; continue }
                    inQuotes = false
                } else { current.append(c) }
            } else if c == " " || c == "\t" {
                if hasArg { args.append(current); current = ""; hasArg = false }
            } else if c == "\"" && !hasArg {
                inQuotes = true; hasArg = true
            } else {
                current.append(c); hasArg = true
            }
            i += 1
        }
        if hasArg { args.append(current) }
        return args
    }

    static let specialCharacters: [String: String] = [
        "em": "—", "en": "–", "hy": "-", "mi": "−", "bu": "•", "co": "©", "rg": "®", "tm": "™", "lq": "“", "rq": "”",
        "oq": "‘", "cq": "’", "aq": "'", "dq": "\"", "ga": "`", "aa": "´", "ti": "~", "ha": "^", "rs": "\\", "sl": "/",
        "de": "°", "mu": "×", "di": "÷", "pl": "+", "eq": "=", "<=": "≤", ">=": "≥", "!=": "≠", "+-": "±", "->": "→",
        "<-": "←", "ua": "↑", "da": "↓", "lh": "☜", "rh": "☞", "ba": "|", "br": "│", "ul": "_", "ru": "_", "sq": "□",
        "dg": "†", "dd": "‡", "ps": "¶", "sc": "§", "Fo": "«", "Fc": "»", "fo": "‹", "fc": "›", "at": "@", "sh": "#",
        "Do": "$", "ct": "¢", "Eu": "€", "Po": "£", "Ye": "¥", "ss": "ß", "'e": "é", "`e": "è", ":u": "ü", ":o": "ö",
        ":a": "ä", "12": "½", "14": "¼", "34": "¾", "md": "·", "pc": "·", "ci": "○", "**": "∗", "lB": "[", "rB": "]",
        "lC": "{", "rC": "}", "la": "⟨", "ra": "⟩", "or": "|", "nb": "", "fi": "fi", "fl": "fl", "ff": "ff",
    ]
    static let strings: [String: String] = ["R": "®", "Tm": "™", "lq": "“", "rq": "”", "C+": "C++", "Ba": "|", "Lq": "“", "Rq": "”"]

    /// Replaces roff escapes in a text line with what they print.
    static func unescape(_ line: String) -> String {
        guard line.contains("\\") else { return line }
        let c = Array(line)
        var out = ""
        var i = 0
        /// The name after \( (two chars), \[ (to ]), or one char.
        func name(at k: Int) -> (String, Int) {
            guard k < c.count else { return ("", k) }
            if c[k] == "(" { return (String(c[min(k + 1, c.count)..<min(k + 3, c.count)]), min(k + 3, c.count)) }
            if c[k] == "[" {
                var e = k + 1
                while e < c.count && c[e] != "]" { e += 1 }
                return (String(c[(k + 1)..<min(e, c.count)]), min(e + 1, c.count))
            }
            return (String(c[k]), k + 1)
        }
        /// Skips a delimited argument ('...'), returning the index after it.
        func skipDelimited(at k: Int) -> Int {
            guard k < c.count else { return k }
            let d = c[k]
            var e = k + 1
            while e < c.count && c[e] != d { e += 1 }
            return min(e + 1, c.count)
        }
        while i < c.count {
            let ch = c[i]
            guard ch == "\\", i + 1 < c.count else { out.append(ch); i += 1; continue }
            let e = c[i + 1]
            switch e {
            case "\"": return out  // comment to end of line
            case "f", "F", "n", "g", "k", "V", "m", "M", "Y", "$":
                let (_, next) = name(at: i + 2)
                i = next
            case "s":
                var k = i + 2
                if k < c.count && (c[k] == "+" || c[k] == "-") { k += 1 }
                if k < c.count && (c[k] == "(" ) { k = min(k + 3, c.count) }
                else if k < c.count && c[k] == "[" { while k < c.count && c[k] != "]" { k += 1 }; k += 1 }
                else if k < c.count && c[k] == "'" { k = skipDelimited(at: k) }
                else { while k < c.count && c[k].isASCII && c[k].isNumber { k += 1; if k - i > 3 { break } } }
                i = min(k, c.count)
            case "(", "[":
                let (n, next) = name(at: i + 1)
                if n.hasPrefix("u"), n.count >= 5, let v = UInt32(n.dropFirst().prefix(while: { $0 != "_" }), radix: 16),
                   let s = Unicode.Scalar(v) { out.append(Character(s)) }
                else { out += specialCharacters[n] ?? "" }
                i = next
            case "*":
                let (n, next) = name(at: i + 2)
                out += strings[n] ?? ""
                i = next
            case "h", "v", "w", "l", "L", "o", "X", "Z", "b", "x", "D", "N", "A", "B", "R", "C", "S", "H":
                if e == "C" { let (n, next) = (String(c[min(i + 3, c.count)..<max(min(i + 3, c.count), skipDelimited(at: i + 2) - 1)]), skipDelimited(at: i + 2)); out += specialCharacters[n] ?? ""; i = next; continue }
                if e == "o" { let start = i + 3, next = skipDelimited(at: i + 2); out += String(c[min(start, c.count)..<max(min(start, c.count), next - 1)].prefix(1)); i = next; continue }
                if e == "w" { i = skipDelimited(at: i + 2); continue }
                i = skipDelimited(at: i + 2)
            case "e", "\\": out.append("\\"); i += 2
            case "-": out.append("-"); i += 2
            case " ", "~", "0": out.append(" "); i += 2
            case "&", ")", "/", ",", "%", ":", "|", "^", "c", "d", "u", "p", "a", "t", "r", "z", "{", "}", "!":
                if e == "t" { out.append("\t") }
                i += 2
            case "'": out.append("´"); i += 2
            case "`": out.append("`"); i += 2
            case ".": out.append("."); i += 2
            default: out.append(e); i += 2
            }
        }
        return out
    }
}
