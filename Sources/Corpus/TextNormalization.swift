// Normalizing a document before deduplication and training: Unicode NFC, LF line ends, no control
// characters but tab and newline, no trailing spaces, at most one blank line in a row, trimmed.
import Foundation

public enum TextNormalization {
    public static func normalize(_ text: String) -> String {
        let nfc = text.precomposedStringWithCanonicalMapping
        var out = String.UnicodeScalarView()
        var pendingSpaces = String.UnicodeScalarView()
        var newlines = 0
        var started = false
        var previousWasCR = false
        for s in nfc.unicodeScalars {
            var scalar = s
            if scalar == "\r" { previousWasCR = true; scalar = "\n" } else if scalar == "\n" && previousWasCR {
                previousWasCR = false; continue
            } else { previousWasCR = false }
            if scalar == "\n" {
                pendingSpaces.removeAll()
                newlines += 1
                continue
            }
            if scalar == " " || scalar == "\t" || scalar == "\u{00A0}" {
                pendingSpaces.append(scalar == "\u{00A0}" ? " " : scalar)
                continue
            }
            // Control characters (C0 but tab/newline, DEL, C1) and byte-order marks.
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0xFEFF { continue }
            if started {
                if newlines > 0 { out.append(contentsOf: (newlines >= 2 ? "\n\n" : "\n").unicodeScalars) }
                // Spaces inside a line, or the indentation of a new one (code, verse).
                out.append(contentsOf: pendingSpaces)
            }
            pendingSpaces.removeAll()
            newlines = 0
            started = true
            out.append(scalar)
        }
        return String(out)
    }

    /// The key two documents (or paragraphs) share when they differ only in whitespace.
    static func dedupKey(_ text: Substring) -> String {
        var out = String.UnicodeScalarView()
        var space = false
        for s in text.unicodeScalars {
            if s == " " || s == "\n" || s == "\t" { space = true; continue }
            if space && !out.isEmpty { out.append(" ") }
            space = false
            out.append(s)
        }
        return String(out)
    }
}
