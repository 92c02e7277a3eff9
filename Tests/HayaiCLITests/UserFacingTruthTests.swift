// Small things a new user sees that must be true: --version, -t reaching the thread pool, the
// workspace default of every command's output, a negative --limit, tokenize's pieces as text, help
// paragraphs re-wrapped by the parser, an eval run's items in `runs export`.
import XCTest
import Foundation
import TestSupport

final class UserFacingTruthTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-truth") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }
    let tiny = Fixtures.fixture("stablelm-tiny").path

    func testVersionNamesTheReleaseTheRevisionAndTheBuild() throws {
        let r = try HayaiBinary.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("hayai 0."), r.stdout)
        XCTAssertTrue(r.stdout.contains("git "), r.stdout)
        XCTAssertTrue(r.stdout.contains("debug") || r.stdout.contains("release"), r.stdout)
    }

    func testACPUWithoutAVX2IsRefusedInOneLine() throws {
        let r = try HayaiBinary.run(["--version"], environment: ["HAYAI_FAULT_NO_AVX2": "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stderr, "Error: this CPU lacks AVX2, FMA or F16C, which hayai's kernels are built for (x86-64-v3)\n")
    }

    func testThreadsReachTheThreadPoolAndBLAS() throws {
        for t in ["1", "2"] {
            let r = try HayaiBinary.run(["chat", tiny, "-t", t, "-n", "2"], stdin: "/show\n")
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stderr.contains("runtime: \(t) threads (BLAS \(t))"), r.stderr)
        }
    }

    func testOutputsDefaultToTheWorkspaceOfHAYAI_HOME() throws {
        let text = scratch.appendingPathComponent("docs.txt")
        try (0..<40).map { "Document \($0) says something about topic \($0 % 7).\n<|endoftext|>" }.joined(separator: "\n")
            .write(to: text, atomically: true, encoding: .utf8)
        let home = scratch.appendingPathComponent("home"), cwd = scratch.appendingPathComponent("cwd")
        try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
        let env = ["HAYAI_HOME": home.path]
        let build = try HayaiBinary.run(["data", "build", "--text", text.path, "--val-fraction", "0.1"], environment: env, currentDirectory: cwd)
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("corpus/manifest.json").path), build.stdout)
        let tok = try HayaiBinary.run(["tokenizer", "train", "--text", text.path, "--vocab-size", "300"], environment: env, currentDirectory: cwd)
        XCTAssertEqual(tok.status, 0, tok.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: home.appendingPathComponent("tokenizer/tokenizer.json").path), tok.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("hayai-runs").path))
    }

    func testANegativeLimitIsNamedNotMissing() throws {
        let r = try HayaiBinary.run(["eval", tiny, "--tasks", "hayai-mini-en", "--limit", "-5"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--limit must be at least 1 (got -5)"), r.stderr)
    }

    func testTokenizeShowsTextPiecesNotByteLevelSymbols() throws {
        let r = try HayaiBinary.run(["tokenize", tiny, "--text", "日本語 hi"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pieces = r.stdout.split(separator: "\n").map { $0.split(separator: "\t").last.map(String.init) ?? "" }
        XCTAssertTrue(pieces.contains("\"日\""), r.stdout)
        XCTAssertTrue(pieces.contains("\" h\""), r.stdout)
        XCTAssertFalse(r.stdout.contains("æ") || r.stdout.contains("Ġ"), "byte-level spelling: \(r.stdout)")
        // A character split across tokens shows its bytes, and the pieces concatenate back to the text.
        XCTAssertTrue(r.stdout.contains("<0xE6>"), r.stdout)
    }

    func testHelpParagraphsAreOneLineEachForTheParserToWrap() throws {
        for command in [["chat"], ["eval"], ["compare"], ["generate"], ["quantize"], ["quickstart"], ["runs"], ["runs", "export"],
                        ["bench"], ["train", "pretrain"], ["train", "sft"], ["data", "build"]] {
            let r = try HayaiBinary.run(command + ["--help"], environment: ["COLUMNS": "2000"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.components(separatedBy: "\n")
            guard let usage = lines.firstIndex(where: { $0.hasPrefix("USAGE:") }) else { return XCTFail(r.stdout) }
            let discussion = Array(lines[1..<usage])
            for (i, line) in discussion.enumerated() where i + 1 < discussion.count {
                let next = discussion[i + 1]
                guard !line.isEmpty, !next.isEmpty, !line.hasPrefix(" "), !next.hasPrefix(" ") else { continue }
                XCTFail("\(command.joined(separator: " ")) --help breaks a paragraph after: \(line)")
            }
        }
    }

    func testExportOfAnEvalRunHoldsItsItems() throws {
        let home = scratch.appendingPathComponent("home").path
        let env = ["HAYAI_EVALSETS": Fixtures.repoRoot.appendingPathComponent("evalsets").path]
        let e = try HayaiBinary.run(["eval", tiny, "--tasks", "hayai-mini-en", "--limit", "3", "--name", "mini", "--home", home], environment: env)
        XCTAssertEqual(e.status, 0, e.stderr)
        let csv = try HayaiBinary.run(["runs", "export", "mini", "--home", home])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let rows = csv.stdout.split(separator: "\n")
        XCTAssertEqual(rows.first, "task,item_index,correct,prediction,target,metrics")
        XCTAssertEqual(rows.count, 4, csv.stdout)
        XCTAssertTrue(rows[1].hasPrefix("hayai_mini_en,0,"), csv.stdout)
        let jsonl = try HayaiBinary.run(["runs", "export", "mini", "--format", "jsonl", "--home", home])
        let objects = try jsonl.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.count, 3)
        XCTAssertEqual(objects[2]["item_index"] as? Int, 2)
        XCTAssertNotNil((objects[0]["metrics"] as? [String: Any])?["acc"])
    }
}
