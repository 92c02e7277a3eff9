// A run store that cannot be written (issue 15: with the disk full, `runs list`, `runs show` and `report` could not
// even read it), through the binary. The store's write-ahead log path is made a link to /dev/full, which SQLite
// refuses to open, so the store cannot be opened for writing — as root too, where permissions would not stop it —
// while the database file itself reads fine. (A write failing with "database or disk is full" is WorkbenchTests'
// DiskFullTests.)
import XCTest
import Foundation
import TestSupport

final class FullDiskTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-fulldisk") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// A workspace with one finished run of 20 steps, whose store then cannot be written.
    func fullWorkspace() throws -> String {
        let home = scratch.appendingPathComponent("home").path
        let made = try HayaiBinary.run(["runs", "write-test-metrics", "--home", home, "--name", "kept", "--steps", "20"])
        XCTAssertEqual(made.status, 0, made.stderr)
        try FileManager.default.createSymbolicLink(atPath: home + "/hayai.sqlite-wal", withDestinationPath: "/dev/full")
        return home
    }

    func testRunsListAndShowReadAStoreThatCannotBeWritten() throws {
        let home = try fullWorkspace()
        let list = try HayaiBinary.run(["runs", "list", "--home", home])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("kept"), list.stdout)
        XCTAssertTrue(list.stderr.contains("read-only") && list.stderr.contains("hayai.sqlite"), list.stderr)
        let show = try HayaiBinary.run(["runs", "show", "kept", "--home", home])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("train/loss"), show.stdout)
    }

    func testAReportIsWrittenFromAStoreThatCannotBeWritten() throws {
        let home = try fullWorkspace()
        let html = scratch.appendingPathComponent("report.html").path
        let report = try HayaiBinary.run(["report", "kept", "--home", home, "-o", html])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(try String(contentsOfFile: html, encoding: .utf8).contains("kept"))
    }

    func testAWriteToAStoreThatCannotBeWrittenIsOneLineNamingTheFile() throws {
        let home = try fullWorkspace()
        let write = try HayaiBinary.run(["runs", "write-test-metrics", "--home", home, "--steps", "2"])
        XCTAssertEqual(write.status, 1)
        let message = write.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(message.contains("\n"), message)
        XCTAssertTrue(message.contains(home + "/hayai.sqlite") && message.contains("cannot open the run store"), message)
    }
}
