// Where chat input comes from: a terminal through libedit (line editing, history in a file,
// Ctrl-C interrupts the line), or a pipe/file read line by line with UTF-8 checked per line.
@preconcurrency import CLibEdit
import Basics
import Foundation
import Kernels

enum InputLine {
    case line(String)
    /// Ctrl-C at the prompt.
    case interrupted
    case end
    /// A line that is not valid UTF-8 (1-based line number).
    case invalidUTF8(line: Int)
}

protocol LineInput: AnyObject {
    func read(prompt: String) -> InputLine
    func remember(_ entry: String)
}

/// libedit's readline, with history kept in `historyPath`.
final class TerminalInput: LineInput {
    let historyPath: String

    init(historyPath: String) {
        self.historyPath = historyPath
        // Multibyte editing needs a UTF-8 locale before libedit starts; fall back to C.UTF-8.
        setlocale(LC_ALL, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" { setlocale(LC_CTYPE, "C.UTF-8") }
        using_history()
        stifle_history(2000)
        _ = read_history(historyPath)
        Interrupt.installSIGINTHandler()
    }

    func read(prompt: String) -> InputLine {
        Interrupt.clear()
        let raw = readline(prompt)
        if Interrupt.isRequested {
            Interrupt.clear()
            free(raw)
            return .interrupted
        }
        guard let raw else { return .end }
        defer { free(raw) }
        return .line(String(cString: raw))
    }

    func remember(_ entry: String) {
        guard !entry.trimmingCharacters(in: .whitespaces).isEmpty else { return }
        add_history(entry)
        let dir = (historyPath as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = write_history(historyPath)
    }

    /// ~/.hayai_history, or chat_history in HAYAI_HOME when that is set.
    static var defaultHistoryPath: String {
        let env = ProcessInfo.processInfo.environment
        if let home = env["HAYAI_HOME"], !home.isEmpty { return (home as NSString).appendingPathComponent("chat_history") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".hayai_history")
    }
}

/// Lines from a file handle (standard input or --prompt-file); never prompts. Read through Basics' one line
/// reader, so a line of n bytes costs O(n) however the pipe hands it over.
final class StreamInput: LineInput {
    private let handle: FileHandle
    private var lines: JSONLines.Lines

    init(handle: FileHandle) {
        self.handle = handle
        lines = JSONLines.Lines(fileDescriptor: handle.fileDescriptor, chunkSize: 1 << 16)
    }

    func read(prompt: String) -> InputLine {
        // A read error ends the input as the end of the file would.
        guard let bytes = (try? lines.next()) ?? nil else { return .end }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .invalidUTF8(line: lines.number) }
        return .line(text)
    }

    func remember(_ entry: String) {}
}
