// SafetensorsWriter: what it writes reads back identically, in the standard layout, atomically.
import Foundation
import XCTest
@testable import Checkpoints
import Kernels
import TestSupport

final class SafetensorsWriterTests: XCTestCase {
    /// Borrowed floats (read only while `write()` runs, F16/BF16 converted a chunk at a time) give the
    /// same file as copied ones, across a conversion chunk's edge, and hold no copy of the tensors.
    func testBorrowedFloatsWriteTheSameFileWithoutACopy() throws {
        let folder = temporaryFolder(self)
        var rng = SeededFloats(seed: 2)
        let big = rng.array(SafetensorsWriter.conversionChunk + 5), small = rng.array(7)
        var files: [Data] = []
        for borrowed in [false, true] {
            let path = folder.appendingPathComponent("m\(borrowed).safetensors").path
            var writer = SafetensorsWriter(path: path, metadata: ["format": "pt"])
            for (type, name) in [(GGMLType.f32, "a"), (.f16, "b"), (.bf16, "c")] {
                for (values, suffix) in [(big, "big"), (small, "small")] {
                    if borrowed {
                        try values.withUnsafeBufferPointer { try writer.add("\(name).\(suffix)", shape: [values.count], borrowing: $0, as: type) }
                    } else {
                        try writer.add("\(name).\(suffix)", shape: [values.count], floats: values, as: type)
                    }
                }
            }
            try writer.write()
            files.append(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        XCTAssertEqual(files[0], files[1])
        var writer = SafetensorsWriter(path: folder.appendingPathComponent("q.safetensors").path)
        try small.withUnsafeBufferPointer { p in
            XCTAssertThrowsError(try writer.add("q", shape: [7], borrowing: p, as: .q8_0))
            XCTAssertThrowsError(try writer.add("r", shape: [8], borrowing: p))
        }

        // 64 MiB of floats written as F32 and as BF16: the peak resident set grows by far less than a copy.
        let floats = UnsafeMutableBufferPointer<Float>.allocate(capacity: 16 << 20)
        defer { floats.deallocate() }
        for i in floats.indices { floats[i] = Float(i % 1000) * 0.001 }
        let increase = try ResidentPeak.increase {
            var w = SafetensorsWriter(path: folder.appendingPathComponent("big.safetensors").path)
            try w.add("f32", shape: [floats.count], borrowing: UnsafeBufferPointer(floats))
            try w.add("bf16", shape: [floats.count], borrowing: UnsafeBufferPointer(floats), as: .bf16)
            try w.write()
        }
        guard let increase else { throw XCTSkip("no /proc/self/clear_refs") }
        XCTAssertLessThan(increase, 16 << 20, "writing 64 MiB of borrowed floats raised the peak resident set by \(increase >> 20) MiB")
    }

    func testRoundTripKeepsNamesShapesDtypesBytesAndMetadata() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("model.safetensors").path
        var rng = SeededFloats(seed: 1)
        let a = rng.array(67 * 3), b = rng.array(131), c = rng.array(5 * 7)
        var writer = SafetensorsWriter(path: path, metadata: ["format": "pt", "note": "quote \" and \\ and é"])
        try writer.add("model.layers.0.mlp.up_proj.weight", shape: [67, 3], floats: a)
        try writer.add("model.norm.weight", shape: [131], floats: b, as: .f16)
        try writer.add("lm_head.weight", shape: [5, 7], floats: c, as: .bf16)
        try writer.add("scalar", shape: [], floats: [2.5])
        try writer.add("empty", shape: [0, 4], floats: [])
        try writer.add("ids", type: .i64, shape: [3], bytes: [Int64(-1), 7, 1 << 40].withUnsafeBytes { Data($0) })
        try writer.write()

        let file = try SafetensorsFile(path: path)
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "quote \" and \\ and é"])
        XCTAssertEqual(Set(file.tensorInfos.keys), ["model.layers.0.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight", "scalar", "empty", "ids"])
        XCTAssertEqual(try file.info("model.layers.0.mlp.up_proj.weight").shape, [67, 3])
        XCTAssertEqual(try file.floats("model.layers.0.mlp.up_proj.weight"), a)
        XCTAssertEqual(try file.info("model.norm.weight").type, .f16)
        XCTAssertEqual(try file.floats("model.norm.weight"), b.map { Float(Float16($0)) })
        XCTAssertEqual(try file.info("lm_head.weight").type, .bf16)
        XCTAssertEqual(try file.floats("lm_head.weight"), c.map { Float(bitPattern: UInt32(bfloat16Bits($0)) << 16) })
        XCTAssertEqual(try file.info("scalar").shape, [])
        XCTAssertEqual(try file.floats("scalar"), [2.5])
        XCTAssertEqual(try file.info("empty").shape, [0, 4])
        let ids = try file.info("ids")
        XCTAssertEqual(ids.type, .i64)
        XCTAssertEqual((0..<3).map { file.rawData(ids).loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self) }, [-1, 7, 1 << 40])
        // Every tensor starts aligned to its element size, so it can be used in place from the map.
        for info in file.tensorInfos.values { XCTAssertEqual(info.offset % info.type.bytesPerBlock, 0, info.name) }
    }

    func testHeaderIsSortedCompactJSONPaddedWithSpacesToEightBytes() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("m.safetensors").path
        var writer = SafetensorsWriter(path: path, metadata: ["format": "pt"])
        try writer.add("b", shape: [2], floats: [1, 2], as: .f16)
        try writer.add("a", shape: [1], floats: [3])
        try writer.write()
        let bytes = try readBytes(path)
        let n = Int(bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        XCTAssertEqual((8 + n) % 8, 0)
        let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        XCTAssertTrue(header.hasPrefix(trimmed), "padding goes after the JSON")
        // F32 before F16 in the data (alignment), keys sorted in the header.
        XCTAssertEqual(trimmed, #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
            + #""b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#)
        XCTAssertEqual(bytes.count, 8 + n + 8)
    }

    func testRewritingAFixtureIsByteIdentical() throws {
        let source = try SafetensorsFile(path: Fixtures.fixture("stablelm-tiny/model.safetensors").path)
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("model.safetensors").path
        var writer = SafetensorsWriter(path: path, metadata: source.metadata)
        for info in source.tensorInfos.values {
            try writer.add(info.name, type: info.type, shape: info.shape, bytes: Data(UnsafeRawBufferPointer(start: source.rawData(info), count: info.byteCount)))
        }
        try writer.write()
        let copy = try SafetensorsFile(path: path)
        XCTAssertEqual(copy.metadata, source.metadata)
        XCTAssertEqual(Set(copy.tensorInfos.keys), Set(source.tensorInfos.keys))
        for (name, info) in source.tensorInfos {
            let other = try copy.info(name)
            XCTAssertEqual(other.shape, info.shape, name)
            XCTAssertEqual(other.type, info.type, name)
            XCTAssertEqual(memcmp(copy.rawData(other), source.rawData(info), info.byteCount), 0, name)
        }
        // The same layout as Hugging Face's safetensors library, byte for byte.
        XCTAssertEqual(try readBytes(path), try readBytes(source.path))
    }

    func testWriteReplacesTheFileAtomicallyAndLeavesNoTemporaryFile() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("model.safetensors").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        var writer = SafetensorsWriter(path: path)
        try writer.add("x", shape: [3], floats: [1, 2, 3])
        try writer.write()
        XCTAssertEqual(try SafetensorsFile(path: path).floats("x"), [1, 2, 3])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.safetensors"])
    }

    func testBadTensorsAreRejectedWhenAdded() throws {
        let path = "/nonexistent/x.safetensors"
        var writer = SafetensorsWriter(path: path)
        try writer.add("x", shape: [2], floats: [1, 2])
        assertCheckpointError(path, "added twice") { try writer.add("x", shape: [2], floats: [1, 2]) }
        assertCheckpointError(path, "needs 12 bytes, 8 given") { try writer.add("y", shape: [3], floats: [1, 2]) }
        assertCheckpointError(path, "bad shape") { try writer.add("z", shape: [-1], floats: []) }
        assertCheckpointError(path, "Q8_0") { try writer.add("q", type: .q8_0, shape: [32], bytes: Data(count: 34)) }
        assertCheckpointError(path, "not a valid tensor name") { try writer.add("__metadata__", shape: [1], floats: [1]) }
        assertCheckpointError(path, "does not exist") { try writer.write() }
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(bfloat16Bits(1.0), 0x3F80)
        XCTAssertEqual(bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie, even stays
        XCTAssertEqual(bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie, odd rounds up
        XCTAssertEqual(bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(bfloat16Bits(-.infinity), 0xFF80)
        XCTAssertEqual(bfloat16Bits(.nan), 0x7FC0)
    }
}
