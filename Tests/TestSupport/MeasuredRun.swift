// Runs the built `hayai` as a user would and measures it: wall time and the child's own peak resident memory
// (runBounded's VmHWM). Output goes through files, stdin comes from a file (or /dev/null), so a test can feed it
// hundreds of megabytes without holding them.
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
    /// `runBounded` (the child's own VmHWM, polled while it runs) with a long time limit, as a CommandResult.
    public static func runMeasured(_ arguments: [String], stdinFile: String = "/dev/null", environment: [String: String] = [:]) throws -> MeasuredResult {
        let r = try runBounded(arguments, timeout: 900, environment: environment, stdinFile: stdinFile)
        // A bound on memory that read nothing would pass whatever the child did.
        guard r.peakRSSBytes > 0 else { throw NSError(domain: "MeasuredRun", code: 1, userInfo: [NSLocalizedDescriptionKey: "no VmHWM read for \(arguments)"]) }
        let exit = r.signal.map { 128 + $0 } ?? r.status
        return MeasuredResult(result: CommandResult(status: exit, stdout: r.stdout, stderr: r.stderr), seconds: r.seconds, peakRSS: r.peakRSSBytes)
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
