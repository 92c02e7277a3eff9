// Ctrl-C (SIGINT, as `kill -INT` sends it) outside the REPL: `generate` stops within a fraction of a
// second with what it wrote and `stop: interrupted`, exit 130; `eval` ends its run as interrupted and
// says how to resume it.
import XCTest
import Foundation
import TestSupport

final class InterruptTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-interrupt") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func smolLM2() throws -> String {
        do { return try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip("\(e)") }
            throw e
        }
    }

    /// Starts hayai, sends SIGINT `after` seconds once `ready` holds for its (stdout, stderr) — the
    /// work under way, not the model still loading — and returns the exit status, both outputs and the
    /// seconds from the signal to the exit.
    func interrupt(_ arguments: [String], environment: [String: String] = [:], after: Double,
                   ready: (String, String) -> Bool) throws -> (status: Int32, stdout: String, stderr: String, seconds: Double) {
        let out = scratch.appendingPathComponent("out-\(UUID().uuidString)"), err = scratch.appendingPathComponent("err-\(UUID().uuidString)")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = HayaiBinary.url
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let start = Date()
        var readyAt: Date?
        while Date().timeIntervalSince(start) < 180 && process.isRunning {
            if readyAt == nil, ready((try? String(contentsOf: out, encoding: .utf8)) ?? "", (try? String(contentsOf: err, encoding: .utf8)) ?? "") {
                readyAt = Date()
            }
            if let readyAt, Date().timeIntervalSince(readyAt) >= after { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(process.isRunning, "it ended before the signal: \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        let sent = Date()
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(sent)
        return (process.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                (try? String(contentsOf: err, encoding: .utf8)) ?? "", seconds)
    }

    func testGenerateStopsWithinASecondAndKeepsTheText() throws {
        let r = try interrupt(["generate", try smolLM2(), "-p", "Once upon a time", "-n", "4000", "--temp", "0", "--ignore-eos"], after: 2) { out, _ in
            !out.isEmpty
        }
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertLessThan(r.seconds, 1.0)
        XCTAssertTrue(r.stderr.contains("stop: interrupted"), r.stderr)
        XCTAssertFalse(r.stdout.isEmpty, "the text generated before Ctrl-C is printed")
    }

    func testEvalStopsAndSaysHowToResume() throws {
        let home = scratch.appendingPathComponent("home").path
        let env = ["HAYAI_EVALSETS": Fixtures.repoRoot.appendingPathComponent("evalsets").path, "HAYAI_DATA": Fixtures.data("").path]
        let r = try interrupt(["eval", try smolLM2(), "--tasks", "jcommonsenseqa-0.2", "--limit", "300", "--name", "long", "--home", home],
                              environment: env, after: 1) { _, err in err.contains("step ") }
        XCTAssertEqual(r.status, 130, r.stderr)
        XCTAssertTrue(r.stderr.contains("items of eval run long are stored; continue with: hayai eval --resume long"), r.stderr)
        let show = try HayaiBinary.run(["runs", "show", "long", "--home", home])
        XCTAssertTrue(show.stdout.contains("interrupted"), show.stdout)
    }
}
