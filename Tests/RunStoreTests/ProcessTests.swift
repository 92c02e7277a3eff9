// The run store across processes: a writer killed with SIGKILL loses nothing it reported as logged,
// several writers at once corrupt nothing, and the `hayai runs` commands read what they wrote. The
// writers are the built `hayai` binary's hidden `runs write-test-metrics` command, which prints
// `step N` after each step's transaction has committed.
import Foundation
import XCTest
@testable import RunStore
import TestSupport

final class ProcessTests: XCTestCase {
    var workspace: URL!

    override func setUp() { workspace = Fixtures.temporaryDirectory("runstore-proc") }
    override func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    func testWriterKilledMidLoggingLosesNoCommittedStep() throws {
        let writer = try Writer(arguments: ["runs", "write-test-metrics", "--home", workspace.path, "--name", "killed"])
        // Kill it mid-stream: it logs as fast as it can, so a transaction is likely in flight.
        try writer.waitForSteps(200, timeout: 60)
        kill(writer.process.processIdentifier, SIGKILL)
        writer.process.waitUntilExit()
        let output = writer.finish()
        XCTAssertEqual(writer.process.terminationReason, .uncaughtSignal)
        let printed = output.steps
        XCTAssertGreaterThanOrEqual(printed.count, 200)

        let store = try RunStore.open(workspace: workspace)
        XCTAssertEqual(try store.integrityProblems(), [])
        let run = try store.requireRun(named: "killed")
        XCTAssertEqual(run.status, .interrupted, "its pid is dead on this host")
        XCTAssertNotNil(run.endedAt)
        let stored = Set(try store.metrics(run: run, name: "train/loss").map(\.step))
        XCTAssertTrue(Set(printed).isSubset(of: stored), "steps reported as logged but missing: \(Set(printed).subtracting(stored).sorted().prefix(10))")
        // At most the one step whose commit the kill cut short after it was durable but before it was printed.
        XCTAssertLessThanOrEqual(stored.count, printed.count + 1)
        // Each stored step is whole: all three metrics of it or none.
        let all = try store.metrics(run: run)
        XCTAssertEqual(all.count, stored.count * 3)

        // The store stays usable: another run writes and finishes.
        let next = try store.createRun(kind: .pretrain, name: "after")
        try store.log(run: next, step: 0, metrics: ["x": 1])
        try store.finish(run: next)
    }

    func testConcurrentWritersLoseAndCorruptNothing() throws {
        // Paced at ~2 ms a step so that each writer runs for a second or more and they overlap.
        let steps = 400
        let writers = try ["a", "b"].map {
            try Writer(arguments: ["runs", "write-test-metrics", "--home", workspace.path, "--name", $0, "--steps", "\(steps)",
                                   "--interval-ms", "2"])
        }
        // This process writes a third run meanwhile.
        let store = try RunStore.open(workspace: workspace)
        let own = try store.createRun(kind: .eval, name: "c")
        for step in 0..<steps {
            try store.log(run: own, step: step, metrics: ["x": Double(step)])
            usleep(1000)
            if step % 50 == 0 { try store.saveEvalItem(EvalItem(task: "t", itemIndex: step), run: own) }
        }
        try store.finish(run: own)
        for writer in writers {
            writer.process.waitUntilExit()
            let output = writer.finish()
            XCTAssertEqual(writer.process.terminationStatus, 0, output.stderr)
            XCTAssertEqual(output.steps.count, steps)
        }

        XCTAssertEqual(try store.integrityProblems(), [])
        for name in ["a", "b"] {
            let run = try store.requireRun(named: name)
            XCTAssertEqual(run.status, .completed)
            let loss = try store.metrics(run: run, name: "train/loss")
            XCTAssertEqual(loss.map(\.step), Array(0..<steps))
            XCTAssertEqual(try store.metrics(run: run).count, steps * 3)
        }
        XCTAssertEqual(try store.metrics(run: own, name: "x").map(\.value), (0..<steps).map(Double.init))
        // The test means something only if the writers overlapped in time.
        let spans = try ["a", "b", "c"].map { name -> ClosedRange<Double> in
            let times = try store.metrics(run: try store.requireRun(named: name)).map(\.time)
            return times.min()!...times.max()!
        }
        XCTAssertTrue(spans[0].overlaps(spans[1]), "writers a and b did not overlap: \(spans)")
        XCTAssertEqual(try store.completedItems(run: own, task: "t").count, steps / 50)
    }

    func testRunsCommandsListShowExportAndRemove() throws {
        let home = workspace.path
        let write = try HayaiBinary.run(["runs", "write-test-metrics", "--home", home, "--name", "cli", "--steps", "20"])
        XCTAssertEqual(write.status, 0, write.stderr)

        let list = try HayaiBinary.run(["runs", "--home", home])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.hasPrefix("NAME"), list.stdout)
        XCTAssertTrue(list.stdout.contains("cli") && list.stdout.contains("completed") && list.stdout.contains("train/loss="), list.stdout)

        let json = try HayaiBinary.run(["runs", "list", "--home", home, "--kind", "pretrain", "--json"])
        let runs = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]], json.stdout)
        XCTAssertEqual(runs.map { $0["name"] as? String }, ["cli"])
        XCTAssertEqual((runs[0]["config"] as? [String: Any])?["test"] as? Bool, true)
        let none = try HayaiBinary.run(["runs", "list", "--home", home, "--kind", "eval", "--json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [Any])?.count, 0, none.stdout)

        let show = try HayaiBinary.run(["runs", "show", "cli", "--home", home])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("\"test\" : true") || show.stdout.contains("\"test\": true"), show.stdout)
        XCTAssertTrue(show.stdout.contains("train/loss"), show.stdout)

        let csvPath = workspace.appendingPathComponent("cli.csv").path
        let export = try HayaiBinary.run(["runs", "export", "cli", "--home", home, "--format", "csv", "-o", csvPath])
        XCTAssertEqual(export.status, 0, export.stderr)
        let csv = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.first, "step,tokens,name,value,time")
        XCTAssertEqual(csv.count, 1 + 20 * 3)

        let missing = try HayaiBinary.run(["runs", "show", "nope", "--home", home])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no run named 'nope'"), missing.stderr)

        let rm = try HayaiBinary.run(["runs", "rm", "cli", "--home", home])
        XCTAssertEqual(rm.status, 0, rm.stderr)
        let empty = try HayaiBinary.run(["runs", "--home", home])
        XCTAssertTrue(empty.stdout.hasPrefix("no runs"), empty.stdout)
    }
}

struct WriterFailed: Error, CustomStringConvertible { var description: String }

/// A `hayai` child process whose standard output is read line by line as it arrives.
final class Writer {
    struct Output { var lines: [String]; var stderr: String
        var steps: [Int] { lines.compactMap { $0.hasPrefix("step ") ? Int($0.dropFirst(5)) : nil } }
    }

    let process = Process()
    private let out = Pipe(), err = Pipe()
    private let lock = NSCondition()
    private var buffer = Data()
    private var closed = false
    private var errData = Data()
    private let group = DispatchGroup()

    init(arguments: [String]) throws {
        process.executableURL = HayaiBinary.url
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        group.enter()
        DispatchQueue.global().async { [self] in
            while true {
                let chunk = out.fileHandleForReading.availableData
                lock.lock()
                if chunk.isEmpty { closed = true } else { buffer.append(chunk) }
                lock.broadcast()
                lock.unlock()
                if chunk.isEmpty { break }
            }
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async { [self] in
            let data = err.fileHandleForReading.readDataToEndOfFile()
            lock.lock(); errData = data; lock.unlock()
            group.leave()
        }
    }

    private var lines: [String] {
        String(decoding: buffer, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Waits until the child has printed `count` committed steps; fails if it exits first.
    func waitForSteps(_ count: Int, timeout: TimeInterval) throws {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while Output(lines: lines, stderr: "").steps.count < count {
            if closed || !lock.wait(until: deadline) {
                let timedOut = !closed
                lock.unlock()
                if timedOut { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                let output = finish()
                lock.lock()
                throw WriterFailed(description: "hayai \(process.arguments!.joined(separator: " ")) "
                    + (timedOut ? "timed out" : "stopped") + " after \(output.steps.count) steps: \(output.stderr)")
            }
        }
    }

    /// Everything the child printed, once its output has closed.
    func finish() -> Output {
        group.wait()
        lock.lock()
        defer { lock.unlock() }
        return Output(lines: lines, stderr: String(decoding: errData, as: UTF8.self))
    }
}
