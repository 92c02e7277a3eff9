// `hayai train pretrain` as a user runs it: a tiny run on a text file ends in a checkpoint that
// `hayai generate` loads and a completed run with every metric in the store; Ctrl-C saves and marks
// the run interrupted, and --resume finishes it; bad input is one line on stderr and exit status 1,
// with nothing saved before lost.
import XCTest
import Foundation
import TestSupport

final class TrainCommandTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-train-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    var tokenizer: String { Fixtures.fixture("stablelm-tiny").path }
    var out: String { scratch.appendingPathComponent("out").path }
    var home: String { scratch.appendingPathComponent("ws").path }

    func file(_ name: String, _ contents: String) throws -> String {
        let url = scratch.appendingPathComponent(name)
        try Data(contents.utf8).write(to: url)
        return url.path
    }

    /// English and Japanese, blank-line separated documents.
    func corpusText() -> String {
        let en = ["The quick brown fox jumps over the lazy dog.", "A small model learns language one token at a time."]
        let ja = ["吾輩は猫である。名前はまだ無い。", "東京の空は青く、風は少し冷たかった。"]
        return (0..<60).map { "\(en[$0 % 2]) (\($0))\n\(ja[($0 / 2) % 2])" }.joined(separator: "\n\n") + "\n"
    }

    func tinyConfig(steps: Int = 6, checkpointInterval: Int = 3) throws -> String {
        try file("tiny.json", """
            {"preset": "tiny", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
             "intermediate_size": 48, "context_length": 32, "micro_batch_size": 2, "grad_accumulation": 2, "steps": \(steps),
             "warmup_steps": 2, "eval_interval": 3, "eval_batches": 2, "checkpoint_interval": \(checkpointInterval),
             "keep_checkpoints": 0, "log_interval": 1, "seed": 7}
            """)
    }

    func train(_ extra: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try HayaiBinary.run(["train", "pretrain", "--text", try file("corpus.txt", corpusText()), "--tokenizer", tokenizer,
                             "--out", out, "--home", home, "--threads", "1"] + extra, environment: environment)
    }

    func runStatus(_ name: String) throws -> (status: String, metrics: [String]) {
        let r = try HayaiBinary.run(["runs", "show", name, "--home", home, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let metrics = (json["metrics"] as! [[String: Any]]).map { $0["name"] as! String }
        return (json["status"] as! String, metrics.sorted())
    }

    func expectError(_ r: CommandResult, _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 1, "stderr: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "'\(f)' missing from: \(r.stderr)", file: file, line: line) }
    }

    func testPretrainingATextFileEndsInACheckpointThatGenerateLoads() throws {
        let r = try train(["--config", tinyConfig(), "--name", "tiny-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("step 6/6 100.0% | loss "), r.stdout)
        XCTAssertTrue(r.stdout.contains("MFU "), r.stdout)
        XCTAssertTrue(r.stdout.contains("step 6: val loss "), r.stdout)
        XCTAssertTrue(r.stdout.contains("val bpb"), r.stdout)
        XCTAssertFalse(r.stdout.contains("\r"), "no live line when stdout is a pipe")
        let run = try runStatus("tiny-run")
        XCTAssertEqual(run.status, "completed")
        XCTAssertEqual(run.metrics, ["grad_norm", "lr", "mfu", "tokens_per_second", "train/loss", "val/bpb", "val/loss"])

        let g = try HayaiBinary.run(["generate", out, "-p", "The quick", "-n", "5", "--temp", "0"])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(g.stdout.hasPrefix("The quick") || !g.stdout.isEmpty)
    }

    /// --profile prints, after the run, each op's ms a step and share, and the ops add up to the step's time.
    func testProfilePrintsEveryOpsShareOfTheStep() throws {
        let r = try train(["--config", tinyConfig(steps: 4, checkpointInterval: 0), "--name", "profiled", "--profile"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("profile: mean of 3 steps") }, r.stdout)
        let stepMS = try XCTUnwrap(Double(header.components(separatedBy: ", ")[1].replacingOccurrences(of: " ms a step", with: "")), header)
        var sum = 0.0
        for name in ["data loading", "embedding", "matmul qkv forward", "matmul qkv backward dX", "matmul qkv backward dW", "matmul o forward",
                     "matmul mlp up/gate backward dW", "matmul mlp down backward dX", "matmul LM head forward", "matmul LM head backward dW",
                     "attention forward", "attention backward", "norms (forward and backward)", "RoPE (forward and backward)",
                     "cross-entropy (forward and backward)", "AdamW", "gradient clipping", "zero gradients", "sync/other"] {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("  " + name + " ") }, "\(name) missing from:\n\(r.stdout)")
            let ms = try XCTUnwrap(Double(line.dropFirst(42).split(separator: " ")[0]), line)
            XCTAssertGreaterThanOrEqual(ms, 0, line)
        }
        for line in lines where line.hasPrefix("  ") && !line.hasPrefix("  op ") && !line.hasPrefix("  all matmuls") && !line.hasPrefix("  sum of") {
            if let ms = Double(line.dropFirst(42).split(separator: " ").first ?? "") { sum += ms }
        }
        XCTAssertEqual(sum, stepMS, accuracy: max(0.05 * stepMS, 0.05), r.stdout)
        let plain = try HayaiBinary.run(["train", "pretrain", "--text", try file("corpus.txt", corpusText()), "--tokenizer", tokenizer,
                                         "--out", out + "-plain", "--home", home, "--threads", "1", "--config", tinyConfig(steps: 2, checkpointInterval: 0)])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("done: 2 steps"), plain.stdout)
        XCTAssertFalse(plain.stdout.contains("profile:"), plain.stdout)
    }

    /// Continued pretraining: --init takes the base's weights, shape and tokenizer (a folder or a GGUF);
    /// the first loss is the base's, not a random model's (ln 2000 ≈ 7.6).
    func testInitContinuesPretrainingFromAFolderOrAGGUF() throws {
        for base in [Fixtures.fixture("stablelm-tiny").path, Fixtures.fixture("stablelm-tiny.f32.gguf").path] {
            let dir = scratch.appendingPathComponent(UUID().uuidString.prefix(6).description).path
            let r = try HayaiBinary.run(["train", "pretrain", "--init", base, "--config", tinyConfig(steps: 2, checkpointInterval: 2),
                                         "--text", try file("corpus.txt", corpusText()), "--out", dir, "--home", home, "--threads", "1"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as! [String: Any]
            XCTAssertEqual(config["hidden_size"] as? Int, 64, "the base's shape, not the config's 32")
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/tokenizer.json"))
            let g = try HayaiBinary.run(["generate", dir, "-p", "The quick", "-n", "3", "--temp", "0"])
            XCTAssertEqual(g.status, 0, g.stderr)
        }
        let wrong = try HayaiBinary.run(["train", "pretrain", "--init", Fixtures.fixture("stablelm-tiny").path, "--config", tinyConfig(),
                                         "--text", try file("corpus.txt", corpusText()), "--tokenizer", Fixtures.data("vocab/ggml-vocab-gpt-2.gguf").path,
                                         "--out", scratch.appendingPathComponent("wrong").path, "--home", home])
        expectError(wrong, ["50257 tokens", "vocabulary of 2000"])
    }

    func testCtrlCSavesACheckpointMarksTheRunInterruptedAndResumeFinishesIt() throws {
        let config = try tinyConfig(steps: 100_000, checkpointInterval: 0)
        let process = Process()
        process.executableURL = HayaiBinary.url
        process.arguments = ["train", "pretrain", "--config", config, "--text", try file("corpus.txt", corpusText()), "--tokenizer", tokenizer,
                             "--out", out, "--home", home, "--name", "stopped", "--threads", "1"]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout; process.standardError = stderr
        try process.run()
        // Wait for a few steps to be printed, then interrupt.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("3/100000 ") {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        kill(process.processIdentifier, SIGINT)
        seen.append(stdout.fileHandleForReading.readDataToEndOfFile())
        _ = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 130)
        let text = String(decoding: seen, as: UTF8.self)
        XCTAssertTrue(text.contains("stopped at step"), text)
        XCTAssertEqual(try runStatus("stopped").status, "interrupted")
        let steps = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("step-") }
        XCTAssertEqual(steps.count, 1, "\(steps)")
        let stoppedAt = Int(steps[0].dropFirst(5))!

        // Resume to a few steps past the interruption: same run, completed.
        let r = try train(["--resume", "--steps", "\(stoppedAt + 2)"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("resuming from"), r.stdout)
        XCTAssertTrue(r.stdout.contains("step \(stoppedAt + 2)/\(stoppedAt + 2)"), r.stdout)
        XCTAssertEqual(try runStatus("stopped").status, "completed")
    }

    func testSIGKILLLeavesTheLastCheckpointWholeAndTheStoreReadable() throws {
        let config = try tinyConfig(steps: 100_000, checkpointInterval: 2)
        let process = Process()
        process.executableURL = HayaiBinary.url
        process.arguments = ["train", "pretrain", "--config", config, "--text", try file("corpus.txt", corpusText()), "--tokenizer", tokenizer,
                             "--out", out, "--home", home, "--name", "killed", "--threads", "1"]
        let stdout = Pipe()
        process.standardOutput = stdout; process.standardError = FileHandle.nullDevice
        try process.run()
        var seen = ""
        while !seen.contains("step 4: checkpoint saved") {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)
        XCTAssertEqual(try runStatus("killed").status, "interrupted")
        let steps = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix("step-") }.sorted()
        XCTAssertFalse(steps.isEmpty)
        for step in steps {
            let g = try HayaiBinary.run(["generate", out + "/" + step, "-p", "The", "-n", "2"])
            XCTAssertEqual(g.status, 0, "\(step): \(g.stderr)")
        }
        let r = try train(["--resume", "--steps", "12"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try runStatus("killed").status, "completed")
    }

    /// --precision reaches the run store's config (f32 when not given) and the checkpoint's state.
    func testPrecisionIsRecordedInTheRunsConfig() throws {
        let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        try XCTSkipUnless(cpu.contains("avx512_bf16"), "this CPU has no AVX512-BF16")
        for (name, extra) in [("p-bf16", ["--precision", "bf16"]), ("p-default", [])] {
            let r = try HayaiBinary.run(["train", "pretrain", "--config", try tinyConfig(steps: 2, checkpointInterval: 0), "--text",
                                         try file("corpus.txt", corpusText()), "--tokenizer", tokenizer, "--out", scratch.appendingPathComponent(name).path,
                                         "--home", home, "--threads", "1", "--name", name] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let show = try HayaiBinary.run(["runs", "show", name, "--home", home, "--json"])
            let json = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as! [String: Any]
            let config = try XCTUnwrap(json["config"] as? [String: Any], show.stdout)
            XCTAssertEqual(config["precision"] as? String, extra.isEmpty ? "f32" : "bf16", name)
        }
    }

    func testBadInputIsOneLineAndExitStatusOne() throws {
        expectError(try train(["--config", "huge"]), ["unknown preset 'huge'"])
        let bad = try file("bad.json", #"{"hidden_size": 100, "num_attention_heads": 3}"#)
        expectError(try train(["--config", bad]), [bad, "not divisible"])
        let empty = try file("empty.txt", "\n\n")
        expectError(try HayaiBinary.run(["train", "pretrain", "--config", "tiny", "--text", empty, "--tokenizer", tokenizer, "--home", home]),
                    [empty, "empty"])
        expectError(try train(["--resume"]), [out, "no such checkpoint folder"])
        expectError(try train(["--config", "tiny", "--precision", "fp8"]), ["unknown --precision 'fp8' (use f32 or bf16)"])
        expectError(try HayaiBinary.run(["train", "pretrain", "--config", "tiny", "--data", scratch.appendingPathComponent("nope").path, "--home", home]),
                    ["nope", "no such corpus folder"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: home + "/hayai.sqlite"), "bad input never touches the run store")
    }

    func testAFullDiskOnACheckpointWriteKeepsThePreviousCheckpoint() throws {
        let r = try train(["--config", tinyConfig(steps: 6, checkpointInterval: 3), "--name", "full"],
                          environment: ["HAYAI_FAULT_CHECKPOINT_WRITE": "2"])
        expectError(r, ["step-6", "No space left on device"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["step-3"])
        XCTAssertEqual(try runStatus("full").status, "failed")
        let g = try HayaiBinary.run(["generate", out + "/step-3", "-p", "The", "-n", "2"])
        XCTAssertEqual(g.status, 0, g.stderr)
        let resumed = try train(["--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
    }
}
