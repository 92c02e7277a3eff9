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

    /// The real-model track on the tiny fixture: a LoRA adapter folder, eval runs of the base and of
    /// base + adapter, the comparison, the report, the chat --compare line; a re-run skips the fine-tuning.
    func testQuickstartWithABaseTunesAdaptersEvaluatesAndCompares() throws {
        let home = Fixtures.temporaryDirectory("hayai-quickstart-lora")
        defer { try? FileManager.default.removeItem(at: home) }
        let model = Fixtures.fixture("stablelm-tiny").path
        let args = ["quickstart", "--base", model, "--home", home.path, "--minutes", "0.2", "--sft-steps", "3", "--lora-rank", "4",
                    "--eval-limit", "6", "--no-chat"]
        let first = try HayaiBinary.run(args, environment: ["HAYAI_DATA": home.path], currentDirectory: Fixtures.repoRoot)
        XCTAssertEqual(first.status, 0, "stdout: \(first.stdout.suffix(2000))\nstderr: \(first.stderr.suffix(2000))")
        for stage in ["== 1/4 LoRA fine-tuning", "== 2/4 evaluation", "== 3/4 compare", "== 4/4 report"] {
            XCTAssertTrue(first.stdout.contains(stage), "missing \(stage)")
        }
        XCTAssertFalse(first.stdout.contains("pretraining"), "no pretraining in the --base track")
        let q = home.appendingPathComponent("quickstart-lora/stablelm-tiny")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: q.appendingPathComponent("adapter/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["r"] as? Int, 4)
        XCTAssertEqual(config["base_model_name_or_path"] as? String, URL(fileURLWithPath: model).standardizedFileURL.path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: q.appendingPathComponent("adapter/adapter_model.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: q.appendingPathComponent("report.html").path))
        XCTAssertTrue(first.stdout.contains("95% CI") && first.stdout.contains("hayai_mini_ja_inst"), "compare table on the instruction sets")
        XCTAssertTrue(first.stdout.contains("hayai chat --compare \(model) \(model) --adapter \(q.path)/adapter"), first.stdout.suffix(500).description)

        let runs = try HayaiBinary.run(["runs", "list", "--home", home.path])
        XCTAssertEqual(runs.status, 0, runs.stderr)
        for name in ["quickstart-lora-stablelm-tiny-sft", "quickstart-lora-stablelm-tiny-eval-base", "quickstart-lora-stablelm-tiny-eval-tuned"] {
            XCTAssertTrue(runs.stdout.contains(name), "run \(name) is in the store: \(runs.stdout)")
        }

        let second = try HayaiBinary.run(args, environment: ["HAYAI_DATA": home.path], currentDirectory: Fixtures.repoRoot)
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("== 1/4 LoRA fine-tuning of stablelm-tiny on the bundled instructions (done before: skipped)"),
                      second.stdout.prefix(800).description)

        let missing = try HayaiBinary.run(["quickstart", "--base", home.appendingPathComponent("nope").path, "--home", home.path, "--no-chat"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertEqual(missing.stderr.split(separator: "\n").count, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("no such model"), missing.stderr)
    }
}
