// Bad safetensors files: each gives a one-line CheckpointError naming the file and the problem,
// never a crash or a hang.
import Foundation
import XCTest
@testable import Checkpoints
import Kernels
import TestSupport

final class SafetensorsBadInputTests: XCTestCase {
    var folder: URL!

    override func setUp() { folder = temporaryFolder(self) }

    /// A file with the given header text (padded to 8 bytes) and data.
    func file(_ name: String, header: String, data: [UInt8] = [UInt8](repeating: 0, count: 64), headerLength: UInt64? = nil) throws -> String {
        var json = Array(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var bytes: [UInt8] = []
        bytes.putLE(headerLength ?? UInt64(json.count))
        bytes += json + data
        return try writeFile(folder, name, bytes)
    }

    func open(_ path: String) throws { _ = try SafetensorsFile(path: path) }

    func validFile() throws -> String {
        let path = folder.appendingPathComponent("valid.safetensors").path
        var writer = SafetensorsWriter(path: path, metadata: ["format": "pt"])
        try writer.add("a", shape: [4, 3], floats: (0..<12).map(Float.init))
        try writer.add("b", shape: [5], floats: [1, 2, 3, 4, 5], as: .bf16)
        try writer.write()
        return path
    }

    func testTruncatedInTheData() throws {
        let bytes = try readBytes(try validFile())
        let path = try writeFile(folder, "cut-data.safetensors", Array(bytes[0..<(bytes.count - 7)]))
        assertCheckpointError(path, "file is truncated: tensor") { try open(path) }
    }

    func testTruncatedInTheHeader() throws {
        let bytes = try readBytes(try validFile())
        let path = try writeFile(folder, "cut-header.safetensors", Array(bytes[0..<40]))
        assertCheckpointError(path, "file is truncated: header length") { try open(path) }
    }

    func testHeaderLengthLargerThanTheFile() throws {
        for length: UInt64 in [1 << 40, UInt64.max, UInt64(Int.max), 65] {
            let path = try file("long-\(length).safetensors", header: "{}", data: [], headerLength: length)
            assertCheckpointError(path, "header length \(length) is larger than the file") { try open(path) }
        }
    }

    func testHeaderNotJSON() throws {
        for (i, text) in ["{not json", "", "\u{0}\u{0}\u{0}", "{\"a\": {\"dtype\": \"F32\""].enumerated() {
            let path = try file("notjson\(i).safetensors", header: text)
            assertCheckpointError(path, "malformed: header is not valid JSON") { try open(path) }
        }
        var bytes: [UInt8] = []
        bytes.putLE(UInt64(8))
        bytes += [0xFF, 0xFE, 0x7B, 0x7D, 0x20, 0x20, 0x20, 0x20]  // not UTF-8
        let binary = try writeFile(folder, "binary.safetensors", bytes)
        assertCheckpointError(binary, "header is not valid JSON") { try open(binary) }
        for (i, text) in ["[1, 2]", "\"x\"", "42"].enumerated() {
            let path = try file("notobject\(i).safetensors", header: text)
            assertCheckpointError(path, "header is not") { try open(path) }
        }
    }

    func testUnknownDType() throws {
        for dtype in ["F8_E4M3", "Q9", "f32", ""] {
            let path = try file("dtype-\(dtype).safetensors", header: #"{"w":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,2]}}"#)
            let error = assertCheckpointError(path, "tensor w has unknown or unsupported dtype \(dtype)") { try open(path) }
            XCTAssertEqual(error, .unknownDType(path: path, tensor: "w", dtype: dtype))
        }
    }

    func testDataOffsetsNotMatchingTheShape() throws {
        let cases: [(String, String)] = [
            (#""shape":[2,3],"data_offsets":[0,20]"#, "spans 20 bytes"),
            (#""shape":[2],"data_offsets":[8,0]"#, "bad data_offsets [8, 0]"),
            (#""shape":[2],"data_offsets":[0]"#, "bad data_offsets [0]"),
            (#""shape":[2],"data_offsets":[0,8,16]"#, "bad data_offsets"),
            (#""shape":[2],"data_offsets":[-8,0]"#, "bad data_offsets"),
            (#""shape":[-2],"data_offsets":[0,8]"#, "negative dimension"),
            (#""shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]"#, "impossibly large shape"),
            (#""shape":[2],"data_offsets":[0,1e30]"#, "tensor w data_offsets has a bad value"),
            (#""shape":[1.5],"data_offsets":[0,8]"#, "tensor w shape has a bad value"),
            (#""shape":["2"],"data_offsets":[0,8]"#, "tensor w shape has the wrong type"),
            (#""shape":2,"data_offsets":[0,8]"#, "tensor w shape has the wrong type"),
            (#""shape":[true],"data_offsets":[0,8]"#, "tensor w shape has the wrong type"),
            (#""shape":[2],"data_offsets":[0,9223372036854775807]"#, "spans"),
            (#""shape":[16],"data_offsets":[0,64]"#, "file is truncated: tensor w ends at byte 64"),
            (#""data_offsets":[0,8]"#, "tensor w lacks shape"),
            (#""shape":[2],"data_offsets":null"#, "tensor w data_offsets is null"),
        ]
        for (i, (entry, problem)) in cases.enumerated() {
            let path = try file("offsets\(i).safetensors", header: #"{"w":{"dtype":"F32",\#(entry)}}"#, data: [UInt8](repeating: 0, count: 32))
            assertCheckpointError(path, problem) { try open(path) }
        }
        let entryNotObject = try file("entry.safetensors", header: #"{"w":[1,2]}"#)
        assertCheckpointError(entryNotObject, "tensor w has the wrong type") { try open(entryNotObject) }
        let badMetadata = try file("meta.safetensors", header: #"{"__metadata__":{"format":1}}"#)
        assertCheckpointError(badMetadata, "__metadata__ format has the wrong type (values must be strings)") { try open(badMetadata) }
    }

    func testFileShorterThanEightBytes() throws {
        let path = try writeFile(folder, "short.safetensors", [1, 0, 0])
        let error = assertCheckpointError(path, "file is truncated: 3 bytes, fewer than the 8-byte header length") { try open(path) }
        XCTAssertNotNil(error)
    }

    func testEmptyFile() throws {
        let path = try writeFile(folder, "empty.safetensors", [])
        assertCheckpointError(path, "file is truncated: the file is empty") { try open(path) }
    }

    func testMissingFileAndFolder() throws {
        let missing = folder.appendingPathComponent("missing.safetensors").path
        assertCheckpointError(missing, "cannot open: No such file or directory") { try open(missing) }
        assertCheckpointError(folder.path, "cannot open: is a directory") { try open(folder.path) }
    }

    func testNamesWithNewlinesStillGiveOneLine() throws {
        let path = try file("newline.safetensors", header: #"{"evil\nname":{"dtype":"Q9","shape":[2],"data_offsets":[0,2]}}"#)
        assertCheckpointError(path, #"tensor evil\nname has unknown"#) { try open(path) }
    }

    /// Every prefix of a valid file and random byte flips in its header give a file or a CheckpointError.
    func testCorruptedCopiesNeverCrash() throws {
        let bytes = try readBytes(try validFile())
        let headerEnd = 8 + Int(bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        for cut in stride(from: 0, to: bytes.count, by: 3) {
            let path = try writeFile(folder, "prefix.safetensors", Array(bytes[0..<cut]))
            XCTAssertThrowsError(try open(path)) { XCTAssertTrue($0 is CheckpointError, "cut \(cut): \($0)") }
        }
        var rng = SeededFloats(seed: 3)
        for trial in 0..<300 {
            var copy = bytes
            for _ in 0..<(1 + trial % 3) {
                let at = Int((rng.next() + 1) / 2 * Float(headerEnd)) % headerEnd
                copy[at] = UInt8(truncatingIfNeeded: Int((rng.next() + 1) * 128))
            }
            let path = try writeFile(folder, "flip.safetensors", copy)
            do { try open(path) } catch { XCTAssertTrue(error is CheckpointError, "trial \(trial): \(error)") }
        }
    }
}
