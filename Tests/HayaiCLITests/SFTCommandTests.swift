// `hayai train sft` as a user runs it on a fixture base model: an instruct checkpoint whose
// tokenizer_config.json carries the chat template, detected again by `hayai chat`; bad data and a
// format the tokenizer cannot express give one-line errors.
import XCTest
import Foundation
import TestSupport

final class SFTCommandTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-sft-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    var base: String { Fixtures.fixture("stablelm-tiny").path }

    func data(_ lines: [String]) throws -> String {
        let url = scratch.appendingPathComponent("data-\(UUID().uuidString.prefix(6)).jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testInstructCheckpointCarriesItsTemplateAndChats() throws {
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let out = scratch.appendingPathComponent("instruct").path
        let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", sft, "--steps", "3", "--seq-len", "128",
                                     "--batch-size", "4", "--out", out, "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("format jslm-instruct"), r.stdout)
        XCTAssertTrue(r.stdout.contains("sft step 3/3"), r.stdout)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tokenizer_config.json"))) as! [String: Any]
        XCTAssertTrue((config["chat_template"] as? String ?? "").contains("### 指示"))
        let chat = try HayaiBinary.run(["chat", out, "-n", "4", "--json"], stdin: "こんにちは\n")
        XCTAssertEqual(chat.status, 0, chat.stderr)
        XCTAssertTrue(chat.stderr.contains("jslm-instruct"), "the format is detected from the checkpoint: \(chat.stderr)")
        let runs = try HayaiBinary.run(["runs", "list", "--kind", "sft", "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertTrue(runs.stdout.contains("completed"), runs.stdout)
    }

    /// The memory `train sft` prints (and refuses by) before it starts is what the run then holds: a
    /// LoRA run on SmolLM2's GGUF peaks within a few percent of it. (Hashing the base through a second
    /// whole-file map put the 98 MB file in the resident set twice, 10-20% over the estimate.)
    func testTheMemoryEstimateBoundsTheRunsPeak() throws {
        let gguf: String
        do { gguf = try SmolLM2.ggufPath().path } catch { throw XCTSkip("\(error)") }
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let r = try HayaiBinary.runMeasured(["train", "sft", "--base", gguf, "--data", sft, "--steps", "1", "--seq-len", "128", "--batch-size", "2",
                                             "--lora-rank", "4", "--out", scratch.appendingPathComponent("adapter").path,
                                             "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.result.status, 0, r.result.stderr)
        let line = try XCTUnwrap(r.result.stdout.split(separator: "\n").first { $0.contains("memory: ~") }, r.result.stdout)
        let gb = try XCTUnwrap(Double(line.components(separatedBy: "memory: ~")[1].split(separator: " ")[0]), String(line))
        let estimate = gb * 1e9
        XCTAssertLessThan(Double(r.peakRSS), estimate * 1.05 + 20e6, "peak \(r.peakRSS / 1_000_000) MB against \(line)")
        XCTAssertGreaterThan(Double(r.peakRSS), estimate * 0.8, "the estimate should not be far above the peak either: \(line)")
    }

    /// --profile on a LoRA run beside a quantized base: the table of the steps after the first, with the
    /// frozen base's products (dX only) and the adapters' gradients (dW), and its ops adding up to the step.
    func testProfileOfALoRARunNamesItsOpsAndAddsUpToTheStep() throws {
        let gguf = Fixtures.fixture("stablelm-tiny.q8_0.gguf").path
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let r = try HayaiBinary.run(["train", "sft", "--base", gguf, "--data", sft, "--steps", "3", "--seq-len", "128", "--batch-size", "2",
                                     "--lora-rank", "4", "--profile", "--out", scratch.appendingPathComponent("adapter").path,
                                     "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        let header = try XCTUnwrap(lines.first { $0.hasPrefix("profile: mean of 2 steps") }, r.stdout)
        let stepMS = try XCTUnwrap(Double(header.components(separatedBy: ", ")[1].replacingOccurrences(of: " ms a step", with: "")), header)
        func ms(_ name: String) throws -> Double {
            let line = try XCTUnwrap(lines.first { $0.hasPrefix("  " + name + " ") }, "\(name) missing:\n\(r.stdout)")
            return try XCTUnwrap(Double(line.dropFirst(42).split(separator: " ")[0]), line)
        }
        XCTAssertGreaterThan(try ms("matmul qkv backward dX"), 0)
        XCTAssertGreaterThan(try ms("matmul qkv backward dW"), 0, "the q/v adapters' gradients")
        XCTAssertEqual(try ms("matmul LM head backward dW"), 0, "the frozen LM head gets no weight gradient")
        XCTAssertGreaterThan(try ms("AdamW"), 0)
        XCTAssertEqual(try ms("sum of the ops"), stepMS, accuracy: max(0.02 * stepMS, 0.05))
        XCTAssertTrue(r.stdout.contains("LoRA adapter in"), r.stdout)
    }

    /// A GGUF base (quantized, no tokenizer.json): the instruct model is a normal Hugging Face folder
    /// with a tokenizer.json written from the GGUF vocabulary, and chat loads it.
    func testAGGUFBaseGivesAHuggingFaceFolder() throws {
        let gguf = Fixtures.fixture("stablelm-tiny.q8_0.gguf").path
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let out = scratch.appendingPathComponent("from-gguf").path
        let r = try HayaiBinary.run(["train", "sft", "--base", gguf, "--data", sft, "--steps", "2", "--seq-len", "128",
                                     "--batch-size", "2", "--out", out, "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing")
        }
        let text = "こんにちは、hello 123"
        let a = try HayaiBinary.run(["tokenize", out, "--text", text, "--json"]), b = try HayaiBinary.run(["tokenize", gguf, "--text", text, "--json"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, b.stdout, "the written tokenizer.json gives the GGUF's ids")
        let chat = try HayaiBinary.run(["chat", out, "-n", "4", "--json"], stdin: "こんにちは\n")
        XCTAssertEqual(chat.status, 0, chat.stderr)
    }

    /// LoRA from a quantized GGUF base: a PEFT adapter folder that generate and chat use with --adapter,
    /// and that merge folds into a full folder giving the same greedy text.
    func testLoRAAdapterFromAGGUFBaseGeneratesAndMerges() throws {
        let gguf = Fixtures.fixture("stablelm-tiny.q8_0.gguf").path
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let adapter = scratch.appendingPathComponent("adapter").path
        let r = try HayaiBinary.run(["train", "sft", "--base", gguf, "--data", sft, "--steps", "3", "--seq-len", "128", "--batch-size", "2",
                                     "--lr", "1e-2", "--lora-rank", "4", "--lora-targets", "q,v,down", "--lora-dropout", "0.05", "--out", adapter,
                                     "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("memory: ~"), r.stdout)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_config.json"))) as! [String: Any]
        XCTAssertEqual(config["peft_type"] as? String, "LORA")
        XCTAssertEqual(config["target_modules"] as? [String], ["q_proj", "v_proj", "down_proj"])
        XCTAssertEqual(config["r"] as? Int, 4)
        XCTAssertEqual(config["lora_dropout"] as? Double, 0.05)

        let prompt = ["-p", "こんにちは", "-n", "6", "--temp", "0"]
        let plain = try HayaiBinary.run(["generate", gguf] + prompt)
        let adapted = try HayaiBinary.run(["generate", gguf, "--adapter", adapter] + prompt)
        XCTAssertEqual(adapted.status, 0, adapted.stderr)
        let merged = scratch.appendingPathComponent("merged").path
        let m = try HayaiBinary.run(["merge", gguf, adapter, merged])
        XCTAssertEqual(m.status, 0, m.stderr)
        let fromMerged = try HayaiBinary.run(["logits", merged, "--text", "こんにちは", "--json"])
        let fromAdapter = try HayaiBinary.run(["logits", gguf, "--adapter", adapter, "--text", "こんにちは", "--json"])
        XCTAssertEqual(fromMerged.status, 0, fromMerged.stderr)
        XCTAssertNotEqual(plain.stdout + fromAdapter.stdout, "", "outputs exist")
        let a = (try JSONSerialization.jsonObject(with: Data(fromMerged.stdout.utf8)) as! [String: Any])["logits"] as! [[Double]]
        let b = (try JSONSerialization.jsonObject(with: Data(fromAdapter.stdout.utf8)) as! [String: Any])["logits"] as! [[Double]]
        // The merged folder is Float32; the adapter ran beside Q8_0 weights: equal up to Q8_0's rounding.
        XCTAssertLessThan(zip(a[0], b[0]).map { abs($0 - $1) }.max()!, 0.2)
        let chat = try HayaiBinary.run(["chat", gguf, "--adapter", adapter, "-n", "4", "--json"], stdin: "こんにちは\n")
        XCTAssertEqual(chat.status, 0, chat.stderr)
        // The base has no chat template; the adapter folder carries the one its data was rendered in.
        XCTAssertTrue(chat.stderr.contains("chat template: jslm-instruct (detected from the adapter)"), chat.stderr)
        let bare = try HayaiBinary.run(["chat", gguf, "-n", "4", "--json"], stdin: "こんにちは\n")
        XCTAssertTrue(bare.stderr.contains("no chat template"), bare.stderr)
    }

    /// issue #12 as a user meets it: a Llama folder with a SentencePiece tokenizer.json quantized to a GGUF,
    /// LoRA-tuned from that GGUF, merged back to a Q8_0 GGUF: the file tokenizes as the folder did, gives the
    /// merged folder's logits, generates, and chats in the adapter's format.
    func testASentencePieceGGUFBaseMergesBackToAGGUFThatGeneratesAndChats() throws {
        let folder = scratch.appendingPathComponent("llama-spm")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: Fixtures.japanese("llama-spm/\(file)"), to: folder.appendingPathComponent(file))
        }
        // The fixture's llama3 RoPE has no GGUF form hayai writes; its linear-scaling variant has.
        try FileManager.default.copyItem(at: Fixtures.japanese("variants/llama-rope-linear-old/config.json"), to: folder.appendingPathComponent("config.json"))
        let base = scratch.appendingPathComponent("base.gguf").path
        let q = try HayaiBinary.run(["quantize", folder.path, base, "--type", "f32"])
        XCTAssertEqual(q.status, 0, q.stderr)
        let text = "吾輩は猫である。 The cat sat on the mat."
        func tokens(_ model: String) throws -> String {
            let r = try HayaiBinary.run(["tokenize", model, "--text", text, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout
        }
        XCTAssertEqual(try tokens(base), try tokens(folder.path), "the GGUF tokenizes as the folder's tokenizer.json")

        // Short examples: the fixture's context is 64 tokens and its tokenizer spends about one on a character.
        let sft = try data((0..<8).map { #"{"instruction": "猫\#($0)", "output": "吾輩は猫である。"}"# })
        let adapter = scratch.appendingPathComponent("adapter").path
        let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", sft, "--template", "llama2", "--steps", "3", "--seq-len", "64",
                                     "--batch-size", "2", "--lr", "2e-2", "--lora-rank", "4", "--out", adapter, "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let mergedFolder = scratch.appendingPathComponent("merged").path, mergedGGUF = scratch.appendingPathComponent("merged.gguf").path
        for out in [[mergedFolder], [mergedGGUF, "--gguf", "q8_0"]] {
            let m = try HayaiBinary.run(["merge", base, adapter] + out)
            XCTAssertEqual(m.status, 0, m.stderr)
        }
        XCTAssertEqual(try tokens(mergedGGUF), try tokens(base), "the merged GGUF has the base's vocabulary")

        func logits(_ model: String) throws -> [Double] {
            let l = try HayaiBinary.run(["logits", model, "--text", text, "--json"])
            XCTAssertEqual(l.status, 0, l.stderr)
            return ((try JSONSerialization.jsonObject(with: Data(l.stdout.utf8)) as? [String: Any])?["logits"] as? [[Double]])?.first ?? []
        }
        let fromFolder = try logits(mergedFolder), fromGGUF = try logits(mergedGGUF), fromBase = try logits(base)
        XCTAssertEqual(fromGGUF.count, 400)
        let difference = zip(fromGGUF, fromFolder).map { abs($0 - $1) }.max() ?? .infinity
        let adapterEffect = zip(fromBase, fromFolder).map { abs($0 - $1) }.max() ?? 0
        // The fixture's rows of 16 are not whole Q8_0 blocks, so `--gguf q8_0` keeps its matrices in F16 as
        // llama-quantize does (SentencePieceMergeToGGUFTests holds a Q8_0-shaped model to Q8_0's tolerance).
        XCTAssertLessThan(difference, 0.05, "the merged GGUF vs the merged folder")
        XCTAssertGreaterThan(adapterEffect, 5 * difference, "the adapter's effect is far larger than the file's rounding")

        print("merge --gguf q8_0 from a SentencePiece GGUF: max |Δ| to the merged folder \(difference), the adapter's effect \(adapterEffect)")
        let prompt = ["-p", "吾輩は", "-n", "6", "--temp", "0"]
        let g = try HayaiBinary.run(["generate", mergedGGUF] + prompt), fromMerged = try HayaiBinary.run(["generate", mergedFolder] + prompt)
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertFalse(g.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, g.stderr)
        XCTAssertEqual(g.stdout, fromMerged.stdout, "greedy text of the GGUF and of the merged folder")
        let chat = try HayaiBinary.run(["chat", mergedGGUF, "-n", "4", "--json"], stdin: "こんにちは\n")
        XCTAssertEqual(chat.status, 0, chat.stderr)
        XCTAssertTrue(chat.stderr.contains("llama2"), "the adapter's chat template is in the GGUF: \(chat.stderr)")
    }

    /// --minutes stops starting steps when the budget is spent and saves what was trained.
    func testMinutesBudgetStopsTrainingAndSaves() throws {
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let adapter = scratch.appendingPathComponent("budget").path
        let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", sft, "--steps", "500", "--seq-len", "256", "--batch-size", "2",
                                     "--lora-rank", "2", "--minutes", "0.00001", "--out", adapter, "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("step 1: val loss"), "one step inside a 0.6 ms budget: \(r.stdout.suffix(400))")
        XCTAssertTrue(FileManager.default.fileExists(atPath: adapter + "/adapter_config.json"))
    }

    func testBadLoRAOptionsAreOneLineErrors() throws {
        let good = try data([#"{"instruction": "ok", "output": "fine"}"#])
        for (options, fragment) in [(["--lora-rank", "4", "--lora-targets", "q,zz"], "unknown target 'zz'"),
                                    (["--lora-rank", "500"], "rank 500 is larger than"),
                                    (["--lora-rank", "4", "--lora-targets", "qkv"], "no 'qkv' projection"),
                                    (["--lora-rank", "4", "--lora-dropout", "1.5"], "dropout rate must be in [0, 1)"),
                                    (["--lora-dropout", "0.1"], "--lora-dropout needs --lora-rank"),
                                    (["--precision", "fp16"], "unknown --precision 'fp16' (use f32 or bf16)")] {
            let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", good, "--steps", "1",
                                         "--out", scratch.appendingPathComponent("bad").path] + options)
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(fragment), r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.appendingPathComponent("bad").path), "nothing written")
        }
        let m = try HayaiBinary.run(["merge", base, scratch.appendingPathComponent("no-adapter").path, scratch.appendingPathComponent("m").path])
        XCTAssertEqual(m.status, 1)
        XCTAssertTrue(m.stderr.contains("no such adapter folder"), m.stderr)
        let g = try HayaiBinary.run(["generate", base, "--adapter", scratch.path, "-p", "x", "-n", "1"])
        XCTAssertEqual(g.status, 1)
        XCTAssertTrue(g.stderr.contains("adapter_config.json: missing"), g.stderr)
    }

    func testBadDataAndAFormatTheTokenizerLacks() throws {
        let bad = try data([#"{"instruction": "ok", "output": "fine"}"#, #"{"instruction": "no answer"}"#])
        let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", bad, "--steps", "1", "--out", scratch.appendingPathComponent("x").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("\(bad):2: missing field 'output'"), r.stderr)

        let empty = try data([#"{"instruction": "ok", "output": "  "}"#])
        let e = try HayaiBinary.run(["train", "sft", "--base", base, "--data", empty, "--steps", "1"])
        XCTAssertEqual(e.status, 1)
        XCTAssertTrue(e.stderr.contains("empty response"), e.stderr)

        let good = try data([#"{"instruction": "ok", "output": "fine"}"#])
        let chatml = try HayaiBinary.run(["train", "sft", "--base", base, "--data", good, "--template", "chatml", "--steps", "1"])
        XCTAssertEqual(chatml.status, 1)
        XCTAssertTrue(chatml.stderr.contains("no special token <|im_start|>"), chatml.stderr)
    }

    func testExamplesLongerThanARowAreCutAndCounted() throws {
        let long = String(repeating: "とても長い答えです。", count: 80)
        let file = try data([#"{"instruction": "短い質問", "output": "短い答え"}"#, "{\"instruction\": \"長い質問\", \"output\": \"\(long)\"}"])
        let r = try HayaiBinary.run(["train", "sft", "--base", base, "--data", file, "--steps", "1", "--seq-len", "256", "--batch-size", "2",
                                     "--out", scratch.appendingPathComponent("y").path, "--home", scratch.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("2 examples (1 cut to fit a row"), r.stdout)
    }
}
