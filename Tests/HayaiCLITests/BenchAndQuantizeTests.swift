// `hayai bench` and `hayai quantize` as a user runs them: the JSON shape of a synthetic benchmark
// (not its speed), a quantized file that loads and generates, and bad GGUF input rejected with one
// line naming the file, without a crash.
import XCTest
import Foundation
import TestSupport

final class BenchAndQuantizeTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-bench-quantize") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testSyntheticBenchPrintsOneJSONObjectPerTest() throws {
        let r = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q4_0", "-p", "16", "-n", "8", "-t", "1,2", "-r", "2", "--json",
                                     "--kv-type", "f16"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], r.stdout)
        XCTAssertEqual(rows.map { $0["test"] as? String }, ["pp16", "tg8", "pp16", "tg8"])
        XCTAssertEqual(rows.map { $0["threads"] as? Int }, [1, 1, 2, 2])
        for row in rows {
            XCTAssertEqual(row["model"] as? String, "synthetic tiny")
            XCTAssertEqual(row["type"] as? String, "Q4_0")
            XCTAssertGreaterThan(row["params"] as? Int ?? 0, 300_000)
            XCTAssertGreaterThan(row["bytes"] as? Int ?? 0, 0)
            XCTAssertGreaterThan(row["tokens_per_second"] as? Double ?? 0, 0)
            XCTAssertNotNil(row["stddev"] as? Double)
            let isTG = (row["test"] as! String).hasPrefix("tg")
            XCTAssertEqual(row["bound_tokens_per_second"] != nil, isTG, "bound only on generation rows")
            if isTG { XCTAssertGreaterThan(row["bound_tokens_per_second"] as? Double ?? 0, 0) }
            if !isTG {
                // Q4_0 runs on the int8 kernels where the CPU has AVX512-VNNI, else through sgemm.
                XCTAssertGreaterThan(row["compute_bound_tokens_per_second"] as? Double ?? 0, 0)
                XCTAssertTrue(["int8", "sgemm", "int8+sgemm"].contains(row["compute_bound_kind"] as? String ?? ""), "\(row)")
                XCTAssertGreaterThan(row["sgemm_bound_tokens_per_second"] as? Double ?? 0, 0)
            }
        }
        XCTAssertTrue(r.stderr.contains("read"), "progress (bandwidth) goes to standard error")
    }

    /// `bench --peak --json`: one object per -t with the f32 and bf16 peaks and how they were measured (what
    /// scripts/bench-train-vs-torch reads for MFU); it takes no model and refuses one.
    func testPeakPrintsTheMeasuredArithmeticPeaksAsJSON() throws {
        let r = try HayaiBinary.run(["bench", "--peak", "-t", "1,2", "-r", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], r.stdout)
        XCTAssertEqual(rows.map { $0["threads"] as? Int }, [1, 2])
        for row in rows {
            XCTAssertGreaterThan(row["f32_flops"] as? Double ?? 0, 1e9, "\(row)")
            XCTAssertNotNil(row["bf16_flops"] as? Double, "\(row)")
            XCTAssertTrue((row["method"] as? String ?? "").contains("best burst of any thread"), "\(row)")
        }
        let refused = try HayaiBinary.run(["bench", "--peak", "--synthetic", "tiny", "--type", "q8_0"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--peak takes no MODEL"), refused.stderr)
    }

    func testAPromptOrGenerationAsLongAsTheContextRunsAndOneMoreIsRefused() throws {
        // The tiny shape's context is 256 positions: pp256 and tg256 use positions 0..<256.
        let fits = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q8_0", "-p", "256", "-n", "256", "-t", "1", "-r", "1", "--json"])
        XCTAssertEqual(fits.status, 0, fits.stderr)
        XCTAssertTrue(fits.stdout.contains("\"pp256\"") && fits.stdout.contains("\"tg256\""), fits.stdout)
        for (flag, label) in [("-p", "prompt"), ("-n", "generation")] {
            let args = flag == "-p" ? ["-p", "257", "-n", "0"] : ["-p", "0", "-n", "257"]
            let refused = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q8_0", "-t", "1", "-r", "1"] + args)
            XCTAssertNotEqual(refused.status, 0)
            XCTAssertTrue(refused.stderr.contains("\(label) length 257 does not fit the model's context of 256"), refused.stderr)
        }
    }

    func testBenchTableHasTheRooflineColumns() throws {
        let r = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q8_0", "-p", "8", "-n", "4", "-t", "1", "-r", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertTrue(lines[0].contains("model") && lines[0].contains("t/s") && lines[0].contains("bound"), r.stdout)
        XCTAssertTrue(r.stdout.contains("pp8") && r.stdout.contains("tg4") && r.stdout.contains("roofline: 1 thread(s): read"), r.stdout)
    }

    func testProfileSplitsThePromptsTimeByOpForEachThreadCount() throws {
        let r = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q4_k_m", "-p", "8,16", "-n", "0", "-t", "1,2", "-r", "1", "--profile"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("profile pp16 t=1: forward") && r.stdout.contains("profile pp16 t=2: forward"), r.stdout)
        XCTAssertFalse(r.stdout.contains("profile pp8"), "only the longest prompt is profiled")
        for op in ["matrices: mlp down", "activation quantization", "norms", "attention: q·k, softmax", "rotary", "residual adds",
                   "mlp activation", "rest: pool waits"] { XCTAssertTrue(r.stdout.contains(op), op) }
        let json = try HayaiBinary.run(["bench", "--synthetic", "tiny", "--type", "q4_0", "-p", "8", "--profile", "--json"])
        XCTAssertNotEqual(json.status, 0)
        XCTAssertTrue(json.stderr.contains("--profile"), json.stderr)
    }

    func testBenchRejectsMissingModelOrType() throws {
        XCTAssertNotEqual(try HayaiBinary.run(["bench"]).status, 0)
        let r = try HayaiBinary.run(["bench", "--synthetic", "tiny"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--type"), r.stderr)
    }

    func testQuantizedFileLoadsAndGenerates() throws {
        let out = scratch.appendingPathComponent("tiny.q4_k_m.gguf").path
        let q = try HayaiBinary.run(["quantize", Fixtures.fixture("stablelm-tiny").path, out, "--type", "q4_k_m"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stderr.contains("wrote"), q.stderr)
        let g = try HayaiBinary.run(["generate", out, "-p", "Hello", "-n", "4", "--temp", "0", "--json", "--kv-type", "q8_0"])
        XCTAssertEqual(g.status, 0, g.stderr)
        XCTAssertTrue(g.stdout.contains("\"ids\""), g.stdout)
        XCTAssertNotEqual(try HayaiBinary.run(["quantize", Fixtures.fixture("stablelm-tiny").path, out, "--type", "q3_x"]).status, 0)
    }

    // MARK: Bad GGUF input through quantize and bench

    /// The fixture with the tensor info of `tensor` changed: (type, offset, first dim) patched.
    func patched(_ tensor: String, type: UInt32? = nil, offset: UInt64? = nil, firstDim: UInt64? = nil, truncateTo: Int? = nil) throws -> String {
        var data = try Data(contentsOf: Fixtures.fixture("stablelm-tiny.q8_0.gguf"))
        // A tensor info: u64 name length, name, u32 n_dims, u64 dims…, u32 type, u64 offset.
        var key = Data(); withUnsafeBytes(of: UInt64(tensor.utf8.count).littleEndian) { key.append(contentsOf: $0) }; key.append(Data(tensor.utf8))
        let start = try XCTUnwrap(data.range(of: key)).upperBound
        let dims = Int(data[start..<start + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
        func put<T: FixedWidthInteger>(_ v: T, at i: Int) { withUnsafeBytes(of: v.littleEndian) { data.replaceSubrange(i..<i + $0.count, with: $0) } }
        if let firstDim { put(firstDim, at: start + 4) }
        if let type { put(type, at: start + 4 + 8 * dims) }
        if let offset { put(offset, at: start + 8 + 8 * dims) }
        if let truncateTo { data = data.prefix(truncateTo) }
        let url = scratch.appendingPathComponent("bad-\(UUID().uuidString).gguf")
        try data.write(to: url)
        return url.path
    }

    func expectOneLineError(_ args: [String], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try HayaiBinary.run(args)
        XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "'\(f)' missing from \(r.stderr)", file: file, line: line) }
    }

    func testBadGGUFsGiveOneLineErrors() throws {
        let out = scratch.appendingPathComponent("out.gguf").path
        let cases: [(String, [String])] = [
            (try patched("blk.1.attn_v.weight", offset: 1 << 40), ["blk.1.attn_v.weight"]),
            (try patched("output.weight", type: 99), ["output.weight"]),
            (try patched("blk.0.attn_q.weight", firstDim: 48), ["blk.0.attn_q.weight"]),
            (try patched("output.weight", truncateTo: 300_000), ["bad-"]),
        ]
        for (path, fragments) in cases {
            try expectOneLineError(["quantize", path, out, "--type", "q4_0"], [path] + fragments)
            try expectOneLineError(["bench", path, "-p", "4", "-n", "2", "-r", "1"], [path] + fragments)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output file from bad input")
        }
    }

    /// `quantize --synthetic`: a file of a published shape with a real vocabulary, which LoRA SFT takes as a base.
    func testASyntheticGGUFIsABaseForLoRA() throws {
        let dir = Fixtures.temporaryDirectory("synthetic-gguf")
        defer { try? FileManager.default.removeItem(at: dir) }
        let gguf = dir.appendingPathComponent("tiny.gguf").path, adapter = dir.appendingPathComponent("adapter").path
        let vocab = Fixtures.fixture("stablelm-tiny.q8_0.gguf").path
        let q = try HayaiBinary.run(["quantize", "--synthetic", "tiny", "--vocab", vocab, gguf, "--type", "q8_0"])
        XCTAssertEqual(q.status, 0, q.stderr)
        XCTAssertTrue(q.stderr.contains("wrote \(gguf)"), q.stderr)
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let r = try HayaiBinary.run(["train", "sft", "--base", gguf, "--data", sft, "--steps", "1", "--seq-len", "256", "--batch-size", "2",
                                     "--lora-rank", "2", "--out", adapter, "--home", dir.appendingPathComponent("ws").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: adapter + "/adapter_model.safetensors"))

        let noVocab = try HayaiBinary.run(["quantize", "--synthetic", "tiny", gguf, "--type", "q8_0"])
        XCTAssertNotEqual(noVocab.status, 0)
        XCTAssertTrue(noVocab.stderr.contains("--synthetic needs --vocab"), noVocab.stderr)
        let tooBig = Fixtures.data("vocab/ggml-vocab-llama-spm.gguf").path
        let big = try HayaiBinary.run(["quantize", "--synthetic", "tiny", "--vocab", tooBig, dir.appendingPathComponent("x.gguf").path, "--type", "q8_0"])
        XCTAssertEqual(big.status, 1)
        XCTAssertEqual(big.stderr.split(separator: "\n").count, 1, big.stderr)
        XCTAssertTrue(big.stderr.contains(tooBig) && big.stderr.contains("do not fit"), big.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.gguf").path), "nothing written")
    }
}
