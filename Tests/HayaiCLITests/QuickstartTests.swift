// `hayai quickstart` end to end on a small budget (two small Debian sources, seconds of training):
// every stage runs, the summary and compare table are printed, the report is written, and a second
// run skips what is done.
import XCTest
import Foundation
import TestSupport

final class QuickstartTests: XCTestCase {
    func testQuickstartRunsEveryStageAndResumes() throws {
        let home = Fixtures.temporaryDirectory("hayai-quickstart")
        defer { try? FileManager.default.removeItem(at: home) }
        let args = ["quickstart", "--home", home.path, "--minutes", "0.1", "--max-bytes", "300000", "--vocab-size", "800",
                    "--eval-limit", "8", "--sft-steps", "3", "--only", "jargon-text", "--only", "debian-reference-ja", "--no-chat"]
        let env = ["HAYAI_DATA": Fixtures.data("").path]
        let first = try HayaiBinary.run(args, environment: env, currentDirectory: Fixtures.repoRoot)
        if first.status != 0, first.stderr.contains("apt-get") || first.stderr.contains("download") {
            throw XCTSkip("Debian packages could not be downloaded: \(first.stderr.suffix(300))")
        }
        XCTAssertEqual(first.status, 0, "stdout: \(first.stdout.suffix(2000))\nstderr: \(first.stderr.suffix(2000))")
        for stage in ["== 1/8 corpus", "== 2/8 tokenizer", "== 3/8 base model", "== 4/8 instruct model", "== 5/8 evaluation",
                      "== 6/8 compare", "== 7/8 side by side", "== 8/8 report"] {
            XCTAssertTrue(first.stdout.contains(stage), "missing \(stage)")
        }
        XCTAssertTrue(first.stdout.contains("95% CI"), "compare table")
        XCTAssertTrue(first.stdout.contains("tokenizer: 800 tokens"), first.stdout.suffix(800).description)
        XCTAssertTrue(first.stdout.contains("base validation loss"), first.stdout.suffix(800).description)
        XCTAssertTrue(first.stdout.contains("instruct validation loss"), first.stdout.suffix(800).description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("quickstart/report.html").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("quickstart/instruct/tokenizer_config.json").path))

        let second = try HayaiBinary.run(args, environment: env, currentDirectory: Fixtures.repoRoot)
        XCTAssertEqual(second.status, 0, second.stderr)
        for stage in ["1/8", "2/8", "3/8", "4/8"] {
            XCTAssertTrue(second.stdout.contains("== \(stage)") && second.stdout.components(separatedBy: "== \(stage)")[1].hasPrefix(" ")
                          && second.stdout.contains("(done before: skipped)"), "stage \(stage) is skipped on a re-run")
        }
    }
}
