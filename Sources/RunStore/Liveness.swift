// Whether the process that owns a run is still there: the host name and pid a run records, checked
// against this machine's process table.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Liveness {
    static var currentPid: Int32 { getpid() }

    static let currentHost: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return ProcessInfo.processInfo.hostName }
        return String(cString: buffer)
    }()

    /// True when a process with this pid exists on this machine and is not a zombie. A killed child
    /// that its parent has not reaped yet is a zombie: dead for our purposes, though `kill(pid, 0)`
    /// still succeeds on it.
    static func isAlive(pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        #if os(Linux)
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) {
            // "pid (comm) S ...": the state letter follows the last ')', as comm may hold spaces or parens.
            guard let close = stat.lastIndex(of: ")") else { return true }
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
            return state != "Z" && state != "X"
        }
        #endif
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM
    }
}
