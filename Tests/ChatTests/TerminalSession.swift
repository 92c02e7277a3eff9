// Drives `hayai chat` on a real terminal through tmux (its own server socket per test): type keys,
// wait for text on the screen, read the screen. Tests skip when tmux is not installed.
import XCTest
import Foundation
import TestSupport

final class TerminalSession {
    static let tmuxPath: String? = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    let socket = "hayai-test-\(UUID().uuidString.prefix(8))"
    let name = "chat"
    private var started = false

    static func requireTmux() throws {
        guard tmuxPath != nil else {
            throw XCTSkip("tmux is not installed (apt-get install -y tmux): the terminal REPL tests are skipped")
        }
    }

    /// Runs a tmux client and returns what it printed. Spawned directly and waited for with waitpid,
    /// its output going to a file: the tmux server that new-session forks inherits the client's
    /// descriptors, so a pipe would never reach end-of-file (and Foundation's Process did not always
    /// see the client exit).
    @discardableResult
    func tmux(_ arguments: [String]) throws -> String {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-\(UUID().uuidString).out").path
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = [Self.tmuxPath!, "-L", socket] + arguments
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, Self.tmuxPath!, &actions, nil, &cArgs, environ)
        guard rc == 0 else { throw NSError(domain: "tmux", code: Int(rc)) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    }

    /// Starts `hayai ARGS` in a wide terminal with a UTF-8 locale; EXIT=<status> is printed when it ends.
    func start(_ arguments: [String], environment: [String: String]) throws {
        func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        var env = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm"]
        for (k, v) in environment { env[k] = v }
        let command = "env " + env.map { "\($0.key)=\(quote($0.value))" }.sorted().joined(separator: " ") + " "
            + ([HayaiBinary.url.path] + arguments).map(quote).joined(separator: " ") + "; echo EXIT=$?; sleep 600"
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "250", "-y", "50", command])
        started = true
    }

    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", name] + keys) }
    /// Types text literally (no key names).
    func type(_ text: String) throws { try tmux(["send-keys", "-t", name, "-l", text]) }

    /// The whole screen and scrollback, wrapped lines joined.
    func screen() throws -> String { try tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", name]) }

    /// Waits until `condition` holds for the screen; fails with the screen after `timeout` seconds.
    @discardableResult
    func wait(_ what: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line,
              _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        while Date() < deadline {
            text = try screen()
            if condition(text) { return text }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(text)", file: file, line: line)
        throw XCTSkip("gave up")
    }

    @discardableResult
    func waitFor(_ needle: String, count: Int = 1, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try wait("\(count)× \"\(needle)\"", timeout: timeout, file: file, line: line) { $0.components(separatedBy: needle).count - 1 >= count }
    }

    func close() {
        if started { _ = try? tmux(["kill-server"]) }
    }
}
