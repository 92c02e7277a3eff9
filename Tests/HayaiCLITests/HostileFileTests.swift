// Issue #15's reproducers, run as a user would: files that declare absurd sizes, hold NaN, or are
// subtly wrong. Each must end with one line naming the file and the problem and exit status 1 (or run
// normally, where the fix is to bound what the file asks for), within a time bound and with the
// child's peak memory (wait4's rusage) under a generous bound — the bombs once took gigabytes or aborted.
import XCTest
import Foundation
import TestSupport

final class HostileFileTests: XCTestCase {
    var scratch: URL!

    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-hostile") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// Peak memory any of these runs may take (the debug binary with a tiny model needs well under this).
    let memoryBound = 600 << 20
    /// Seconds any of these runs may take on the debug build of a loaded 2-core machine.
    let timeBound = 60.0

    func copyFixture(_ name: String) throws -> URL {
        let dst = scratch.appendingPathComponent(name)
        try FileManager.default.copyItem(at: Fixtures.fixture(name), to: dst)
        var isDir: ObjCBool = false
        FileManager.default.fileExists(atPath: dst.path, isDirectory: &isDir)
        if isDir.boolValue {
            for f in try FileManager.default.contentsOfDirectory(atPath: dst.path) {
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dst.appendingPathComponent(f).path)
            }
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dst.path)
        } else {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dst.path)
        }
        return dst
    }

    func run(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> BoundedResult {
        let r = try HayaiBinary.runBounded(args, timeout: timeBound, environment: ["HAYAI_HOME": scratch.appendingPathComponent("home").path])
        XCTAssertFalse(r.timedOut, "\(args) ran past \(timeBound) s", file: file, line: line)
        XCTAssertNil(r.signal, "\(args) ended by signal \(r.signal ?? 0): \(r.stderr.suffix(300))", file: file, line: line)
        XCTAssertLessThan(r.peakRSSBytes, memoryBound, "\(args) peaked at \(r.peakRSSBytes >> 20) MB", file: file, line: line)
        return r
    }

    /// Exit status 1 and exactly one stderr line holding every fragment.
    func expectError(_ args: [String], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(args, file: file, line: line)
        XCTAssertEqual(r.status, 1, "exit status for \(args): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "'\(f)' missing from: \(r.stderr)", file: file, line: line) }
    }

    func rewriteJSON(_ url: URL, _ change: (inout [String: Any]) -> Void) throws {
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    /// Overwrites the bytes right after `key`'s 4-byte value type in a GGUF's metadata.
    func patchGGUF(_ url: URL, key: String, value: [UInt8]) throws {
        var data = try Data(contentsOf: url)
        let range = try XCTUnwrap(data.range(of: Data(key.utf8)), "\(key) not in \(url.lastPathComponent)")
        let start = range.upperBound + 4
        data.replaceSubrange(start..<start + value.count, with: value)
        try data.write(to: url)
    }

    func bytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    func bytes(_ f: Float) -> [UInt8] { bytes(f.bitPattern) }

    // MARK: memory bombs from a declared size

    func testTokenIDsOf2To40And2To62AreRefusedBeforeATableIsSized() throws {
        for id in [1 << 40, 1 << 62] {
            let dir = try copyFixture("stablelm-tiny")
            let tok = dir.appendingPathComponent("tokenizer.json")
            try rewriteJSON(tok) { json in
                var model = json["model"] as! [String: Any]
                var vocab = model["vocab"] as! [String: Any]
                vocab["Ġthe"] = id
                model["vocab"] = vocab
                json["model"] = model
            }
            try expectError(["tokenize", dir.path, "--text", "the"], [tok.path, "\(id)", "HuggingFaceTokenizerFile.vocabularyLimit"])
            try FileManager.default.removeItem(at: dir)
        }
    }

    func testTokenIDsMustBeIntegral() throws {
        for (value, shown) in [(0.5 as Any, "0.5"), (1.5 as Any, "1.5"), (false as Any, "false")] {
            let dir = try copyFixture("stablelm-tiny")
            let tok = dir.appendingPathComponent("tokenizer.json")
            try rewriteJSON(tok) { json in
                var added = json["added_tokens"] as! [[String: Any]]
                added[0]["id"] = value
                json["added_tokens"] = added
            }
            try expectError(["tokenize", dir.path, "--text", "the"], [tok.path, "id \(shown)", "not a non-negative integer"])
            try FileManager.default.removeItem(at: dir)
        }
    }

    func testAContextOf2To32Minus1IsBoundedByTheLimitNotAllocated() throws {
        let gguf = try copyFixture("stablelm-tiny.f32.gguf")
        try patchGGUF(gguf, key: "stablelm.context_length", value: bytes(UInt32.max))
        let r = try run(["logits", gguf.path, "--ids", "1,2,3", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("{\"ids\":[1,2,3]"), String(r.stdout.prefix(80)))

        let dir = try copyFixture("stablelm-tiny")
        try rewriteJSON(dir.appendingPathComponent("config.json")) { $0["max_position_embeddings"] = Int(UInt32.max) }
        let hf = try run(["logits", dir.path, "--ids", "1,2,3", "--json"])
        XCTAssertEqual(hf.status, 0, hf.stderr)

        try expectError(["logits", gguf.path, "--ids", "1,2,3", "--ctx", "4294967295"], ["--ctx 4294967295", "ModelConfig.contextLimit"])
    }

    func testAnEvalItemWithAMillionChoicesIsRefused() throws {
        let yaml = scratch.appendingPathComponent("many.yaml")
        try String(contentsOf: Fixtures.fixture("lmeval_tinymc/tinymc.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "tinymc.jsonl", with: "many.jsonl").write(to: yaml, atomically: true, encoding: .utf8)
        let choices = "[" + (0..<1_000_000).map { _ in "\"a\"" }.joined(separator: ",") + "]"
        try "{\"question\": \"q\", \"choices\": \(choices), \"label\": 0}\n"
            .write(to: scratch.appendingPathComponent("many.jsonl"), atomically: true, encoding: .utf8)
        try expectError(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", yaml.path],
                        ["many.jsonl", "1000000 choices", "EvalTask.choiceLimit"])
    }

    func testAYAMLAliasBombIsRefusedBeforeItExpands() throws {
        var lines = ["task: bomb", "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]"]
        for i in 1...9 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ", ") + "]") }
        let yaml = scratch.appendingPathComponent("bomb.yaml")
        try lines.joined(separator: "\n").write(to: yaml, atomically: true, encoding: .utf8)
        try expectError(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", yaml.path],
                        [yaml.path, "YAMLReading.expandedNodeLimit"])
    }

    func testATaskNested5000LevelsDeepIsRefusedWithoutOverflowingTheStack() throws {
        let yaml = scratch.appendingPathComponent("deep.yaml")
        try ("task: deep\nx: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n")
            .write(to: yaml, atomically: true, encoding: .utf8)
        try expectError(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", yaml.path], [yaml.path, "YAMLReading.nestingLimit"])
    }

    func testATaskFileOverTheSizeLimitIsRefused() throws {
        let yaml = scratch.appendingPathComponent("huge.yaml")
        try ("task: huge\n" + String(repeating: "# padding padding padding padding\n", count: 40_000)).write(to: yaml, atomically: true, encoding: .utf8)
        try expectError(["eval", Fixtures.fixture("stablelm-tiny").path, "--tasks", yaml.path], [yaml.path, "YAMLReading.fileSizeLimit"])
    }

    // MARK: crashes

    func testAHundredThousandThreadsAreRefusedInOneLine() throws {
        try expectError(["logits", Fixtures.fixture("stablelm-tiny").path, "--ids", "1,2", "-t", "100000"],
                        ["--threads 100000", "ThreadPool.threadLimit"])
        try expectError(["bench", "--synthetic", "tiny", "--type", "q8_0", "-t", "1,100000"], ["--threads 100000", "ThreadPool.threadLimit"])
        try expectError(["train", "pretrain", "--config", "tiny", "--text", "x.txt", "--tokenizer", "t", "-t", "100000"], ["--threads 100000"])
    }

    // MARK: garbage accepted with exit 0

    /// The stablelm-tiny safetensors file with its header re-padded by 8 spaces: (data, header length, header end).
    func paddedSafetensors(_ url: URL) throws -> Data {
        let data = try Data(contentsOf: url)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        var out = Data(bytes(UInt64(n + 8)))
        out += data[8..<8 + n] + Data(repeating: 0x20, count: 8) + data[(8 + n)...]
        return out
    }

    func testASafetensorsHeaderOneByteShortIsRefused() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        var data = try paddedSafetensors(st)
        try data.write(to: st)
        // The padded file loads; one byte short of the header shifts every tensor by a byte.
        XCTAssertEqual(try run(["logits", dir.path, "--ids", "1,2", "--json"]).status, 0)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        data.replaceSubrange(0..<8, with: bytes(UInt64(n - 1)))
        try data.write(to: st)
        try expectError(["logits", dir.path, "--ids", "1,2", "--json"], [st.path, "the tensors cover", "the file holds"])
    }

    func testSafetensorsDataWithTrailingBytesIsRefused() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        try (Data(contentsOf: st) + Data([0, 0, 0, 0])).write(to: st)
        try expectError(["logits", dir.path, "--ids", "1,2", "--json"], [st.path, "trailing bytes"])
    }

    /// Writes `value` over the first element of `tensor` in a safetensors file.
    func poison(_ st: URL, tensor: String, with value: Float) throws {
        var data = try Data(contentsOf: st)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: data[8..<8 + n]) as! [String: Any]
        let begin = ((header[tensor] as! [String: Any])["data_offsets"] as! [Int])[0]
        data.replaceSubrange(8 + n + begin..<8 + n + begin + 4, with: bytes(value))
        try data.write(to: st)
    }

    func testNaNAndInfinityWeightsAreRefusedWithTheTensorNamed() throws {
        for value in [Float.nan, -Float.infinity] {
            let dir = try copyFixture("stablelm-tiny")
            let st = dir.appendingPathComponent("model.safetensors")
            try poison(st, tensor: "model.layers.1.mlp.up_proj.weight", with: value)
            try expectError(["logits", dir.path, "--ids", "1,2", "--json"], [st.path, "model.layers.1.mlp.up_proj.weight", "NaN or infinity"])
            try FileManager.default.removeItem(at: dir)
        }
        let gguf = try copyFixture("stablelm-tiny.f32.gguf")
        var data = try Data(contentsOf: gguf)
        data.replaceSubrange(data.count - 4..<data.count, with: bytes(Float.nan))
        try data.write(to: gguf)
        try expectError(["logits", gguf.path, "--ids", "1,2", "--json"], [gguf.path, "NaN or infinity"])
    }

    func testFiniteWeightsThatOverflowGiveALogitsErrorNotNull() throws {
        // Every value of the embedding near Float's largest: finite (the load-time scan passes), but the
        // first LayerNorm's sums overflow, and the logits would be NaN.
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: st)
        let n = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: data[8..<8 + n]) as! [String: Any]
        let offsets = (header["model.embed_tokens.weight"] as! [String: Any])["data_offsets"] as! [Int]
        let huge = bytes(Float.greatestFiniteMagnitude / 2)
        for p in stride(from: 8 + n + offsets[0], to: 8 + n + offsets[1], by: 4) { data.replaceSubrange(p..<p + 4, with: huge) }
        try data.write(to: st)
        try expectError(["logits", dir.path, "--ids", "1,2", "--json"], [dir.path, "the logits at position 1 are not finite"])
        try expectError(["generate", dir.path, "-p", "hello", "-n", "2"], [dir.path, "are not finite"])
    }

    func testAMissingLayerNormBiasIsAMissingTensorNotZeros() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        var data = try Data(contentsOf: st)
        let name = Data("model.layers.0.input_layernorm.bias".utf8)
        data.replaceSubrange(try XCTUnwrap(data.range(of: name)), with: Data("model.layers.0.input_layernorm.bia_".utf8))
        try data.write(to: st)
        try expectError(["logits", dir.path, "--ids", "1,2", "--json"], ["missing tensor model.layers.0.input_layernorm.bias"])
    }

    func testGGUFNormEpsilonAndRopeSettingsOutOfRangeAreRefused() throws {
        let cases: [(String, [UInt8], String)] = [
            ("stablelm.attention.layer_norm_epsilon", bytes(Float.nan), "layer_norm_eps nan"),
            ("stablelm.attention.layer_norm_epsilon", bytes(Float(-1)), "layer_norm_eps -1.0"),
            ("stablelm.rope.dimension_count", bytes(UInt32(3)), "rotary dimension 3"),
            ("stablelm.rope.dimension_count", bytes(UInt32(4096)), "rotary dimension 4096"),
        ]
        for (key, value, fragment) in cases {
            let gguf = try copyFixture("stablelm-tiny.f32.gguf")
            try patchGGUF(gguf, key: key, value: value)
            try expectError(["logits", gguf.path, "--ids", "1,2", "--json"], [gguf.path, fragment])
            try FileManager.default.removeItem(at: gguf)
        }
        let dir = try copyFixture("stablelm-tiny")
        try rewriteJSON(dir.appendingPathComponent("config.json")) { $0["rope_theta"] = -10000.0; $0["rope_parameters"] = nil }
        try expectError(["logits", dir.path, "--ids", "1,2", "--json"], ["config.json", "rope_theta -10000.0"])
    }
}
