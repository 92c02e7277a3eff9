// Runs the built `hayai` executable as a user would, capturing its output and exit status.
import Foundation

public struct CommandResult {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum HayaiBinary {
    /// The `hayai` binary next to the test bundle (same build folder and configuration).
    public static var url: URL {
        if let env = ProcessInfo.processInfo.environment["HAYAI_BIN"] { return URL(fileURLWithPath: env) }
        var dir = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("hayai")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir.deleteLastPathComponent()
        }
        let fallback = Fixtures.repoRoot.appendingPathComponent(".build/debug/hayai")
        return fallback
    }

    @discardableResult
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                           currentDirectory: URL? = nil) throws -> CommandResult {
        try ProcessRunner.run(url, arguments, stdin: stdin, environment: environment, currentDirectory: currentDirectory)
    }
}

public enum ProcessRunner {
    /// Runs `executable` to its end with both outputs captured.
    @discardableResult
    public static func run(_ executable: URL, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                           currentDirectory: URL? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        try process.run()
        if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty process cannot block on a full pipe.
        var outData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = outPipe.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}

/// A child process's outcome with what it cost: wall time and peak resident memory (the child's own
/// VmHWM, read from /proc while it runs), and whether it had to be killed at the time limit.
public struct BoundedResult {
    public var status: Int32
    /// The signal that ended the process, or nil when it exited.
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    public var seconds: Double
    public var peakRSSBytes: Int
    public var timedOut: Bool

    /// Non-empty stderr lines.
    public var stderrLines: [Substring] { stderr.split(separator: "\n", omittingEmptySubsequences: true) }
}

extension HayaiBinary {
    /// Runs `executable` (default: hayai) with stdin from `stdinFile`, killing it after `timeout` seconds;
    /// its address space is capped at `addressSpaceLimit` bytes (ulimit -v), so a memory bomb that
    /// regresses fails inside the child instead of taking a machine shared with others.
    public static func runBounded(_ arguments: [String], executable: URL? = nil, timeout: Double = 60,
                                  addressSpaceLimit: Int = 8 << 30, environment: [String: String] = [:],
                                  stdinFile: String = "/dev/null") throws -> BoundedResult {
        let dir = Fixtures.temporaryDirectory("hayai-bounded")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("out").path, errPath = dir.appendingPathComponent("err").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinFile, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let target = (executable ?? url).path, program = "/bin/sh"
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let limit = "ulimit -v \(addressSpaceLimit / 1024) && exec \"$0\" \"$@\""
        let argv = ([program, "-c", limit, target] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        let rc = posix_spawn(&pid, program, &actions, nil, argv, envp)
        guard rc == 0 else { throw NSError(domain: "posix_spawn", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "cannot run \(program)"]) }
        var status: Int32 = 0
        var usage = rusage()
        var timedOut = false
        // Not wait4's ru_maxrss: posix_spawn starts the child in the parent's address space (vfork), and
        // Linux carries that address space's high-water mark across exec, so a test process that has grown
        // to 900 MB would report 900 MB for every child. VmHWM belongs to the child's own address space.
        var peakKB = 0
        while true {
            peakKB = max(peakKB, Self.highWaterKB(pid: pid) ?? 0)
            let r = wait4(pid, &status, WNOHANG, &usage)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if Date().timeIntervalSince(start) > timeout, !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(2_000)
        }
        let seconds = Date().timeIntervalSince(start)
        let signaled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        return BoundedResult(status: signaled ? -1 : (status >> 8) & 0xff, signal: signaled ? status & 0x7f : nil,
                             stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
                             stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data(), as: UTF8.self),
                             seconds: seconds, peakRSSBytes: peakKB * 1024, timedOut: timedOut)
    }

    /// The VmHWM (peak resident set) of a running process in kB, nil once it has exited.
    static func highWaterKB(pid: pid_t) -> Int? { ResidentPeak.statusKB("VmHWM", process: "\(pid)") }
}
