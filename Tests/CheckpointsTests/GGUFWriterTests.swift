// GGUFWriter: metadata of every kind, tensors of any ggml type, alignment; rewriting llama.cpp's file.
import Foundation
import XCTest
@testable import Checkpoints
import Kernels
import TestSupport

final class GGUFWriterTests: XCTestCase {
    static let allKinds: [(String, GGUFValue)] = [
        ("general.architecture", .string("stablelm")),
        ("test.uint8", .uint8(200)), ("test.int8", .int8(-100)),
        ("test.uint16", .uint16(60000)), ("test.int16", .int16(-30000)),
        ("test.uint32", .uint32(4_000_000_000)), ("test.int32", .int32(-2_000_000_000)),
        ("test.float32", .float32(0.1)), ("test.bool", .bool(true)), ("test.false", .bool(false)),
        ("test.string", .string("日本語 and \"quotes\"\n")), ("test.empty_string", .string("")),
        ("test.uint64", .uint64(UInt64.max)), ("test.int64", .int64(Int64.min)), ("test.float64", .float64(-1e300)),
        ("test.strings", .array([.string("a"), .string(""), .string("ß")])),
        ("test.floats", .array([.float32(1), .float32(-.infinity)])),
        ("test.nested", .array([.array([.int32(1), .int32(2)]), .array([.string("x")])])),
        ("test.empty_array", .array([])),
    ]

    func testRoundTripKeepsEveryMetadataKindInOrderAndTensorBytes() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("m.gguf").path
        var writer = GGUFWriter(path: path)
        for (k, v) in Self.allKinds { try writer.set(k, v) }
        var rng = SeededFloats(seed: 7)
        let w = rng.array(3 * 67)
        try writer.addTensor("blk.0.attn_q.weight", shape: [3, 67], floats: w)
        let q8 = Data((0..<(2 * 34)).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        try writer.addTensor("blk.0.ffn_up.weight", type: .q8_0, shape: [2, 32], bytes: q8)
        let q4k = Data((0..<144).map { UInt8(truncatingIfNeeded: $0 &* 11) })
        try writer.addTensor("blk.0.ffn_down.weight", type: .q4_K, shape: [256], bytes: q4k)
        try writer.addTensor("empty", shape: [0], floats: [])
        try writer.addTensor("cube", shape: [2, 3, 5, 7], floats: rng.array(210))
        try writer.write()

        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.metadataKeys, Self.allKinds.map(\.0))
        for (k, v) in Self.allKinds { XCTAssertEqual(file.metadata[k], v, k) }
        XCTAssertEqual(file.tensors.map(\.name), ["blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.0.ffn_down.weight", "empty", "cube"])
        XCTAssertEqual(file.tensors.map(\.shape), [[3, 67], [2, 32], [256], [0], [2, 3, 5, 7]])
        XCTAssertEqual(file.tensors.map(\.type), [.f32, .q8_0, .q4_K, .f32, .f32])
        XCTAssertEqual(try file.floats("blk.0.attn_q.weight"), w)
        let up = try file.info("blk.0.ffn_up.weight")
        XCTAssertEqual(Data(UnsafeRawBufferPointer(start: file.rawData(up), count: up.byteCount)), q8)
        let down = try file.info("blk.0.ffn_down.weight")
        XCTAssertEqual(Data(UnsafeRawBufferPointer(start: file.rawData(down), count: down.byteCount)), q4k)
        for t in file.tensors { XCTAssertEqual(t.offset % 32, 0, t.name) }
        // The dims in the file are fastest-varying first: [67, 3] for a (3, 67) weight.
        let bytes = try readBytes(path)
        let name = Array("blk.0.attn_q.weight".utf8)
        let at = (0..<(bytes.count - name.count)).first { Array(bytes[$0..<($0 + name.count)]) == name }!
        var p = at + name.count
        func u32() -> UInt32 { defer { p += 4 }; return bytes[p..<(p + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        func u64() -> UInt64 { defer { p += 8 }; return bytes[p..<(p + 8)].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        XCTAssertEqual(u32(), 2)
        XCTAssertEqual([u64(), u64()], [67, 3])
        XCTAssertEqual(u32(), GGMLType.f32.rawValue)
        XCTAssertEqual(u64(), 0)
    }

    func testAlignmentFromMetadataPadsHeaderAndTensors() throws {
        let folder = temporaryFolder(self)
        let path = folder.appendingPathComponent("a.gguf").path
        var writer = GGUFWriter(path: path)
        try writer.set("general.alignment", .uint32(64))
        XCTAssertEqual(writer.alignment, 64)
        try writer.addTensor("a", shape: [3], floats: [1, 2, 3])
        try writer.addTensor("b", shape: [5], floats: [4, 5, 6, 7, 8])
        try writer.write()
        let file = try GGUFFile(path: path)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataOffset % 64, 0)
        XCTAssertEqual(file.tensors.map { $0.offset - file.dataOffset }, [0, 64])
        XCTAssertEqual(try file.floats("b"), [4, 5, 6, 7, 8])
        XCTAssertEqual(try readBytes(path).count, file.dataOffset + 128)
    }

    func testBadInputIsRejected() throws {
        let path = "/nonexistent/w.gguf"
        var writer = GGUFWriter(path: path)
        assertCheckpointError(path, "not a power of two") { try writer.set("general.alignment", .uint32(48)) }
        assertCheckpointError(path, "mixes value types") { try writer.set("x", .array([.int32(1), .string("a")])) }
        assertCheckpointError(path, "not whole Q8_0 blocks") { try writer.addTensor("q", type: .q8_0, shape: [33], bytes: Data(count: 34)) }
        assertCheckpointError(path, "needs 34 bytes, 30 given") { try writer.addTensor("q", type: .q8_0, shape: [32], bytes: Data(count: 30)) }
        assertCheckpointError(path, "1 to 4 dimensions") { try writer.addTensor("t", shape: [1, 1, 1, 1, 1], floats: [1]) }
        try writer.addTensor("t", shape: [1], floats: [1])
        assertCheckpointError(path, "added twice") { try writer.addTensor("t", shape: [1], floats: [1]) }
        assertCheckpointError(path, "does not exist") { try writer.write() }
    }

    /// Copies a GGUF: every metadata key in file order, every tensor's bytes.
    static func rewrite(_ source: GGUFFile, to path: String) throws {
        var writer = GGUFWriter(path: path)
        for key in source.metadataKeys { try writer.set(key, source.metadata[key]!) }
        for t in source.tensors {
            try writer.addTensor(t.name, type: t.type, shape: t.shape, bytes: Data(UnsafeRawBufferPointer(start: source.rawData(t), count: t.byteCount)))
        }
        try writer.write()
    }

    func testRewritingLlamaCppFilesIsByteIdentical() throws {
        for name in ["stablelm-tiny.f32.gguf", "stablelm-tiny.q8_0.gguf", "gptneox-tiny.f32.gguf", "stablelm-tiny-gqa-bias-parallel.f32.gguf"] {
            let source = try GGUFFile(path: Fixtures.fixture(name).path)
            let folder = temporaryFolder(self)
            let path = folder.appendingPathComponent(name).path
            try Self.rewrite(source, to: path)
            let copy = try GGUFFile(path: path)
            XCTAssertEqual(copy.metadataKeys, source.metadataKeys, name)
            XCTAssertEqual(copy.metadata, source.metadata, name)
            XCTAssertEqual(copy.tensors.map(\.name), source.tensors.map(\.name), name)
            XCTAssertEqual(copy.tensors.map(\.shape), source.tensors.map(\.shape), name)
            XCTAssertEqual(copy.tensors.map(\.type), source.tensors.map(\.type), name)
            XCTAssertEqual(copy.tensors.map(\.offset), source.tensors.map(\.offset), name)
            XCTAssertTrue(try readBytes(path) == readBytes(source.path), "\(name) rewritten is not byte-identical")
        }
    }
}
