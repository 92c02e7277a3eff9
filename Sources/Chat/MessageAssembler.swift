// Multi-line input for the chat REPL: a line ending in a backslash continues on the next line, and
// a line starting with """ opens a block that a line ending with """ closes. Lines go in one at a
// time; a complete message comes out.

public struct MessageAssembler: Sendable {
    private var lines: [String] = []
    private var inBlock = false

    public init() {}

    /// True while a message is incomplete (the prompt shows a continuation marker).
    public var isContinuing: Bool { inBlock || !lines.isEmpty }

    /// Feeds one line (without its newline); returns the message once it is complete.
    public mutating func feed(_ line: String) -> String? {
        let quotes = "\"\"\""
        if inBlock {
            let trimmed = line.trimmingTrailingWhitespace()
            if trimmed.hasSuffix(quotes) {
                let before = String(trimmed.dropLast(3))
                if !before.isEmpty { lines.append(before) }
                inBlock = false
                return finish()
            }
            lines.append(line)
            return nil
        }
        if lines.isEmpty && line.hasPrefix(quotes) {
            let rest = String(line.dropFirst(3))
            let trimmed = rest.trimmingTrailingWhitespace()
            if trimmed.count >= 3 && trimmed.hasSuffix(quotes) { return String(trimmed.dropLast(3)) }
            inBlock = true
            if !rest.isEmpty { lines.append(rest) }
            return nil
        }
        if line.hasSuffix("\\") {
            lines.append(String(line.dropLast()))
            return nil
        }
        lines.append(line)
        return finish()
    }

    /// Drops an incomplete message (Ctrl-C during multi-line input).
    public mutating func reset() {
        lines.removeAll()
        inBlock = false
    }

    private mutating func finish() -> String {
        defer { lines.removeAll() }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func trimmingTrailingWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
