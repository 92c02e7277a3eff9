// Bad input at the command line: each case exits non-zero with one line naming the file and the
// problem, without a crash (a crash would exit by signal) or a hang.
import XCTest
import Foundation
import TestSupport

final class BadInputTests: XCTestCase {
    var scratch: URL!

    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-bad-input") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// A writable copy of a fixture folder.
    func copyFixture(_ name: String) throws -> URL {
        let dst = scratch.appendingPathComponent(name)
        try FileManager.default.copyItem(at: Fixtures.fixture(name), to: dst)
        for f in try FileManager.default.contentsOfDirectory(atPath: dst.path) {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dst.appendingPathComponent(f).path)
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dst.path)
        return dst
    }

    /// Runs hayai and checks: exit status 1, a single line on stderr containing every `fragment`.
    func expectError(_ args: [String], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try HayaiBinary.run(args)
        XCTAssertEqual(r.status, 1, "exit status for \(args): stderr \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
        for f in fragments { XCTAssertTrue(r.stderr.contains(f), "'\(f)' missing from: \(r.stderr)", file: file, line: line) }
    }

    func rewrite(_ url: URL, _ change: (inout Data) -> Void) throws {
        var data = try Data(contentsOf: url)
        change(&data)
        try data.write(to: url)
    }

    func testTruncatedSafetensors() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        try rewrite(st) { $0 = $0.prefix($0.count / 2) }
        try expectError(["logits", dir.path, "--ids", "1,2"], [st.path, "truncated"])
    }

    func testSafetensorsHeaderLengthLargerThanTheFile() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        try rewrite(st) { d in withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { d.replaceSubrange(0..<8, with: $0) } }
        try expectError(["logits", dir.path, "--ids", "1,2"], [st.path, "header length"])
    }

    func testUnknownDType() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        try rewrite(st) { d in
            let range = d.range(of: Data("\"F32\"".utf8))!
            d.replaceSubrange(range, with: Data("\"Q9X\"".utf8))
        }
        try expectError(["logits", dir.path, "--ids", "1,2"], [st.path, "Q9X"])
    }

    func testTensorShapeNotMatchingTheConfig() throws {
        let dir = try copyFixture("stablelm-tiny")
        let config = dir.appendingPathComponent("config.json")
        try rewrite(config) { d in
            let s = String(decoding: d, as: UTF8.self).replacingOccurrences(of: "\"intermediate_size\": 176", with: "\"intermediate_size\": 180")
            d = Data(s.utf8)
        }
        try expectError(["logits", dir.path, "--ids", "1,2"], ["model.safetensors", "shape", "180"])
    }

    func testMissingTensor() throws {
        let dir = try copyFixture("stablelm-tiny")
        let st = dir.appendingPathComponent("model.safetensors")
        // Rename one tensor in the header (same length, so offsets stay valid).
        try rewrite(st) { d in
            let range = d.range(of: Data("model.norm.weight".utf8))!
            d.replaceSubrange(range, with: Data("model.xxxx.weight".utf8))
        }
        try expectError(["logits", dir.path, "--ids", "1,2"], ["missing tensor model.norm.weight"])
    }

    func testUnknownModelType() throws {
        let dir = try copyFixture("stablelm-tiny")
        let config = dir.appendingPathComponent("config.json")
        try rewrite(config) { d in
            d = Data(String(decoding: d, as: UTF8.self).replacingOccurrences(of: "\"model_type\": \"stablelm\"", with: "\"model_type\": \"bert\"").utf8)
        }
        try expectError(["logits", dir.path, "--ids", "1,2"], [config.path, "unknown architecture 'bert'"])
    }

    func testGGUFWithBadMagicOrUnsupportedVersion() throws {
        let gguf = scratch.appendingPathComponent("model.gguf")
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny.f32.gguf"), to: gguf)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: gguf.path)
        try rewrite(gguf) { $0[0] = UInt8(ascii: "X") }
        try expectError(["generate", gguf.path, "-p", "hi"], [gguf.path, "bad magic"])
        try rewrite(gguf) { $0[0] = UInt8(ascii: "G"); $0[4] = 9 }
        try expectError(["generate", gguf.path, "-p", "hi"], [gguf.path, "unsupported GGUF version 9"])
    }

    func testUnknownGGUFArchitecture() throws {
        let gguf = scratch.appendingPathComponent("model.gguf")
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny.f32.gguf"), to: gguf)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: gguf.path)
        try rewrite(gguf) { d in
            // general.architecture = "stablelm" (8 bytes) becomes "xtablelm".
            let key = d.range(of: Data("general.architecture".utf8))!
            let value = d.range(of: Data("stablelm".utf8), in: key.upperBound..<d.count)!
            d[value.lowerBound] = UInt8(ascii: "x")
        }
        try expectError(["generate", gguf.path, "-p", "hi"], [gguf.path, "unknown architecture 'xtablelm'"])
    }

    func testPromptLongerThanTheContext() throws {
        let long = String(repeating: "hello world ", count: 300)   // > 256 positions of the tiny model
        try expectError(["generate", Fixtures.fixture("stablelm-tiny").path, "-p", long], ["context holds 256"])
        try expectError(["generate", Fixtures.fixture("stablelm-tiny").path, "-p", "hello world", "--ctx", "2"], ["context holds 2"])
    }

    func testInvalidUTF8TextIsRefused() throws {
        let file = scratch.appendingPathComponent("prompt.txt")
        try Data([0x68, 0x69, 0xE3, 0x81, 0x20, 0xFF]).write(to: file)
        try expectError(["generate", Fixtures.fixture("stablelm-tiny").path, "--file", file.path], [file.path, "not valid UTF-8", "offset 2"])
        try expectError(["tokenize", Fixtures.fixture("stablelm-tiny").path, "--file", file.path], [file.path, "not valid UTF-8"])
    }

    func testInvalidUTF8ArgumentIsRefused() throws {
        // Process passes arguments as Swift strings; go through the shell to hand hayai raw bytes.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "\"$0\" tokenize \"$1\" --text $'ab\\xff'", HayaiBinary.url.path, Fixtures.fixture("stablelm-tiny").path]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = Pipe()
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 1)
        XCTAssertTrue(stderr.contains("not valid UTF-8"), stderr)
    }

    func testMissingModelPath() throws {
        try expectError(["generate", scratch.appendingPathComponent("nope").path, "-p", "x"], ["nope", "no such file or folder"])
    }
}
