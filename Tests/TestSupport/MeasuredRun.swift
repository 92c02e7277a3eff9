// Runs the built `hayai` as a user would and measures it: wall time and the child's own peak resident memory. The
// peak is the child's VmHWM (/proc/PID/status), read every few milliseconds while it runs: wait4's ru_maxrss would
// not do, since Linux carries the spawning process's high-water mark across exec (a test process that has grown to
// a gigabyte would report a gigabyte for every child). Output goes through files, stdin comes from a file (or
// /dev/null), so a test can feed it hundreds of megabytes without holding them.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct MeasuredResult {
    public var result: CommandResult
    public var seconds: Double
    /// Peak resident set size of the child, in bytes.
    public var peakRSS: Int
    public var peakMB: Double { Double(peakRSS) / 1_048_576 }
}

extension HayaiBinary {
    public static func runMeasured(_ arguments: [String], stdinFile: String = "/dev/null", environment: [String: String] = [:]) throws -> MeasuredResult {
        let dir = Fixtures.temporaryDirectory("hayai-measured")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("stdout").path, errPath = dir.appendingPathComponent("stderr").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinFile, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let argv = ([url.path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let start = Date()
        let spawned = posix_spawn(&pid, url.path, &actions, nil, argv, envp)
        guard spawned == 0 else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(spawned)) }
        let peak = PeakMemory(pid: pid)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let seconds = Date().timeIntervalSince(start)
        let peakRSS = peak.stop()
        // A bound on memory that read nothing would pass whatever the child did.
        guard peakRSS > 0 else { throw NSError(domain: "MeasuredRun", code: 1, userInfo: [NSLocalizedDescriptionKey: "no VmHWM read for pid \(pid)"]) }
        // WIFEXITED / WEXITSTATUS by hand (macros are not imported); a signal reads as 128 + its number.
        let exit: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return MeasuredResult(result: CommandResult(status: exit, stdout: out, stderr: err), seconds: seconds, peakRSS: peakRSS)
    }

    /// A file of `bytes` bytes made of `line` repeated (written in large blocks, a few hundred MB in about a second).
    public static func writeRepeating(_ line: String, bytes: Int, to path: String) throws {
        let unit = Data(line.utf8)
        var block = Data()
        while block.count < 1 << 20 { block.append(unit) }
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var written = 0
        while written < bytes {
            try handle.write(contentsOf: block)
            written += block.count
        }
    }
}

/// The largest VmHWM a running process reports, polled on a thread of its own until `stop`.
private final class PeakMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0, running = true
    private let done = DispatchSemaphore(value: 0)

    init(pid: pid_t) {
        let path = "/proc/\(pid)/status"
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                if let text = try? String(contentsOfFile: path, encoding: .utf8),
                   let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                   let kb = Int(line.filter(\.isNumber)) {
                    lock.withLock { peak = max(peak, kb * 1024) }
                }
                usleep(2_000)
            }
            done.signal()
        }
    }

    /// Stops polling; the peak seen, in bytes.
    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { peak }
    }
}
