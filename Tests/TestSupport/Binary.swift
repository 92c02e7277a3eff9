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
