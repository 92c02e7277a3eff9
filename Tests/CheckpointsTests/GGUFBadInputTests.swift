// Bad GGUF files: each gives a one-line CheckpointError naming the file and the problem, never a
// crash or a hang. Files are built byte by byte so each corruption lands where it is meant to.
import Foundation
import XCTest
@testable import Checkpoints
import Kernels
import TestSupport

/// A small GGUF assembled by hand, remembering where its parts start.
struct HandGGUF {
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var kvCount: UInt64?
    /// Raw key/value entries (key string, type, value).
    var metadata: [[UInt8]] = []
    /// Raw tensor infos.
    var infos: [[UInt8]] = []
    var data: [UInt8] = []
    var alignment = 32

    static func kv(_ key: String, type: UInt32, _ value: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        b.putGGUFString(key)
        b.putLE(type)
        return b + value
    }

    static func string(_ s: String) -> [UInt8] { var b: [UInt8] = []; b.putGGUFString(s); return b }

    static func info(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) -> [UInt8] {
        var b: [UInt8] = []
        b.putGGUFString(name)
        b.putLE(UInt32(dims.count))
        for d in dims { b.putLE(d) }
        b.putLE(type)
        b.putLE(offset)
        return b
    }

    /// A valid file: two metadata keys, an F32 tensor of 4 and a Q8_0 tensor of 32.
    static var valid: HandGGUF {
        var g = HandGGUF()
        g.metadata = [kv("general.architecture", type: 8, string("stablelm")), kv("general.name", type: 8, string("tiny"))]
        g.infos = [info("a", dims: [4], type: 0, offset: 0), info("q", dims: [32, 1], type: 8, offset: 32)]
        g.data = [UInt8](repeating: 0x3C, count: 32 + 34)
        return g
    }

    /// The bytes and the offsets where metadata, tensor infos and data begin.
    func build() -> (bytes: [UInt8], metadataStart: Int, infosStart: Int, dataStart: Int) {
        var b: [UInt8] = Array("GGUF".utf8)
        b.putLE(version)
        b.putLE(tensorCount ?? UInt64(infos.count))
        b.putLE(kvCount ?? UInt64(metadata.count))
        let metadataStart = b.count
        for m in metadata { b += m }
        let infosStart = b.count
        for i in infos { b += i }
        while b.count % alignment != 0 { b.append(0) }
        let dataStart = b.count
        return (b + data, metadataStart, infosStart, dataStart)
    }
}

final class GGUFBadInputTests: XCTestCase {
    var folder: URL!

    override func setUp() { folder = temporaryFolder(self) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String { try writeFile(folder, name, bytes) }
    func write(_ name: String, _ g: HandGGUF) throws -> String { try write(name, g.build().bytes) }
    func open(_ path: String) throws { _ = try GGUFFile(path: path) }

    func testHandBuiltFileIsValid() throws {
        let file = try GGUFFile(path: try write("valid.gguf", HandGGUF.valid))
        XCTAssertEqual(file.string("general.name"), "tiny")
        XCTAssertEqual(file.tensors.map(\.shape), [[4], [1, 32]])
        XCTAssertEqual(file.tensors.map(\.type), [.f32, .q8_0])
    }

    func testBadMagic() throws {
        var bytes = HandGGUF.valid.build().bytes
        bytes[3] = UInt8(ascii: "X")
        let path = try write("magic.gguf", bytes)
        XCTAssertEqual(assertCheckpointError(path, "not a GGUF file (bad magic)") { try open(path) }, .badMagic(path: path))
        let safetensors = Fixtures.fixture("stablelm-tiny/model.safetensors").path
        assertCheckpointError(safetensors, "bad magic") { try open(safetensors) }
        let three = try write("three.gguf", Array("GGU".utf8))
        assertCheckpointError(three, "not a GGUF file") { try open(three) }
        let empty = try write("empty.gguf", [])
        assertCheckpointError(empty, "file is truncated: the file is empty") { try open(empty) }
    }

    func testUnsupportedVersions() throws {
        for version: UInt32 in [1, 4, 0, 0x0300_0000] {
            var g = HandGGUF.valid
            g.version = version
            let path = try write("v\(version).gguf", g)
            let error = assertCheckpointError(path, "unsupported GGUF version \(version) (supported: 2, 3)") { try open(path) }
            XCTAssertEqual(error, .unsupportedVersion(path: path, version: version))
        }
        let onlyMagicAndVersion = try write("short.gguf", Array("GGUF".utf8) + [3, 0])
        assertCheckpointError(onlyMagicAndVersion, "file is truncated: version at byte 4") { try open(onlyMagicAndVersion) }
    }

    func testTruncatedInMetadataTensorInfosAndData() throws {
        let (bytes, metadataStart, infosStart, dataStart) = HandGGUF.valid.build()
        let cuts: [(Int, String)] = [
            (12, "file is truncated: tensor count"),
            (20, "file is truncated: metadata count"),
            (metadataStart + 4, "file is truncated: metadata key 0"),
            (metadataStart + 8 + 10, "file is truncated: metadata key 0"),
            (metadataStart + 8 + 20 + 2, "file is truncated: type of general.architecture"),
            (metadataStart + 8 + 20 + 4 + 8 + 3, "file is truncated: value of general.architecture"),
            (infosStart + 5, "file is truncated: tensor 0 name"),
            (infosStart + 8 + 1 + 4 + 3, "file is truncated: dimensions of a"),
            (infosStart + 8 + 1 + 4 + 8 + 2, "file is truncated: type of a"),
            (infosStart + 8 + 1 + 4 + 8 + 4 + 1, "file is truncated: offset of a"),
            (dataStart + 10, "file is truncated: tensor a data (16 bytes at \(dataStart)) runs past the end"),
            (bytes.count - 1, "file is truncated: tensor q data (34 bytes at \(dataStart + 32)) runs past the end"),
        ]
        for (cut, problem) in cuts {
            let path = try write("cut\(cut).gguf", Array(bytes[0..<cut]))
            assertCheckpointError(path, problem) { try open(path) }
        }
    }

    func testAbsurdCounts() throws {
        for (tensors, kvs) in [(UInt64.max, UInt64(2)), (UInt64(2), UInt64.max), (UInt64(1) << 62, UInt64(1) << 62), (UInt64(2), UInt64(1) << 40)] {
            var g = HandGGUF.valid
            g.tensorCount = tensors
            g.kvCount = kvs
            let path = try write("counts-\(tensors)-\(kvs).gguf", g)
            assertCheckpointError(path, "exceeds the file size") { try open(path) }
        }
        // Plausible but wrong counts run into the end of the file.
        var g = HandGGUF.valid
        g.kvCount = 50
        let manyKeys = try write("kv50.gguf", g)
        assertCheckpointError(manyKeys, "file is truncated") { try open(manyKeys) }
        g = HandGGUF.valid
        g.tensorCount = 3
        let manyTensors = try write("t3.gguf", g)
        assertCheckpointError(manyTensors, "malformed") { try open(manyTensors) }
        // An array claiming more elements than the bytes left.
        g = HandGGUF.valid
        var array: [UInt8] = []
        array.putLE(UInt32(6))
        array.putLE(UInt64(1) << 61)
        g.metadata.append(HandGGUF.kv("tokenizer.ggml.scores", type: 9, array))
        let hugeArray = try write("array.gguf", g)
        assertCheckpointError(hugeArray, "value of tokenizer.ggml.scores: array of 2305843009213693952 elements") { try open(hugeArray) }
    }

    func testStringLengthPastTheEnd() throws {
        for length: UInt64 in [UInt64.max, 1 << 40, 1_000] {
            var g = HandGGUF.valid
            var value: [UInt8] = []
            value.putLE(length)
            value += Array("short".utf8)
            g.metadata[1] = HandGGUF.kv("general.name", type: 8, value)
            let path = try write("string-\(length).gguf", g)
            assertCheckpointError(path, "value of general.name: string of \(length) bytes") { try open(path) }
            // The same in a key.
            var bytes = HandGGUF.valid.build().bytes
            bytes.replaceSubrange(24..<32, with: withUnsafeBytes(of: length.littleEndian, Array.init))
            let keyPath = try write("key-\(length).gguf", bytes)
            assertCheckpointError(keyPath, "metadata key 0: string of \(length) bytes") { try open(keyPath) }
        }
    }

    func testUnknownMetadataValueType() throws {
        for type: UInt32 in [13, 99, UInt32.max] {
            var g = HandGGUF.valid
            g.metadata.append(HandGGUF.kv("x.y", type: type, [0, 0, 0, 0]))
            let path = try write("type\(type).gguf", g)
            assertCheckpointError(path, "value of x.y: unknown metadata value type \(type)") { try open(path) }
        }
        var g = HandGGUF.valid
        var array: [UInt8] = []
        array.putLE(UInt32(42))
        array.putLE(UInt64(0))
        g.metadata.append(HandGGUF.kv("x.list", type: 9, array))
        let path = try write("arraytype.gguf", g)
        assertCheckpointError(path, "value of x.list: unknown array element type 42") { try open(path) }
        g = HandGGUF.valid
        g.metadata.append(HandGGUF.kv("x.flag", type: 7, [2]))
        let bool = try write("bool.gguf", g)
        assertCheckpointError(bool, "value of x.flag: bool value 2") { try open(bool) }
    }

    func testUnknownGGMLType() throws {
        for type: UInt32 in [4, 5, 31, 99, UInt32.max] {
            var g = HandGGUF.valid
            g.infos[0] = HandGGUF.info("a", dims: [4], type: type, offset: 0)
            let path = try write("ggml\(type).gguf", g)
            let error = assertCheckpointError(path, "tensor a has unknown or unsupported dtype ggml type \(type)") { try open(path) }
            XCTAssertEqual(error, .unknownDType(path: path, tensor: "a", dtype: "ggml type \(type)"))
        }
    }

    func testTensorDimsNotWholeBlocks() throws {
        for (dims, type) in [([UInt64(33), 1], UInt32(8)), ([100], 2), ([255, 2], 12)] {
            var g = HandGGUF.valid
            g.infos[1] = HandGGUF.info("q", dims: dims, type: type, offset: 32)
            let path = try write("blocks\(dims[0]).gguf", g)
            assertCheckpointError(path, "tensor q: row of \(dims[0]) elements is not a whole number of") { try open(path) }
        }
    }

    func testBadTensorInfos() throws {
        let cases: [([UInt8], String)] = [
            (HandGGUF.info("a", dims: [], type: 0, offset: 0), "tensor a has 0 dimensions"),
            (HandGGUF.info("a", dims: [1, 1, 1, 1, 1], type: 0, offset: 0), "tensor a has 5 dimensions"),
            (HandGGUF.info("a", dims: [UInt64.max], type: 0, offset: 0), "tensor a has dimension 18446744073709551615"),
            (HandGGUF.info("a", dims: [2147483647, 2147483647, 2147483647, 2147483647], type: 0, offset: 0), "is larger than the file"),
            (HandGGUF.info("a", dims: [2147483647, 2147483647, 4], type: 0, offset: 0), "is larger than the file"),
            (HandGGUF.info("a", dims: [4], type: 0, offset: 1 << 62), "tensor a data offset 4611686018427387904 is past the end"),
            (HandGGUF.info("a", dims: [4], type: 0, offset: 4), "tensor a data offset 4 is not a multiple of the alignment 32"),
            (HandGGUF.info("q", dims: [4], type: 0, offset: 0), "tensor q appears twice"),
        ]
        for (i, (info, problem)) in cases.enumerated() {
            var g = HandGGUF.valid
            g.infos[0] = info
            let path = try write("info\(i).gguf", g)
            assertCheckpointError(path, problem) { try open(path) }
        }
    }

    func testBadAlignmentAndDuplicateKeys() throws {
        let cases: [([UInt8], String)] = [
            (HandGGUF.kv("general.alignment", type: 4, [0, 0, 0, 0]), "general.alignment uint32(0) is not a power of two"),
            (HandGGUF.kv("general.alignment", type: 4, [3, 0, 0, 0]), "is not a power of two"),
            (HandGGUF.kv("general.alignment", type: 10, [0, 0, 0, 0, 0, 0, 0, 0x40]), "is not a power of two"),
            (HandGGUF.kv("general.alignment", type: 10, [0, 0, 0, 0, 0, 0, 0, 0x80]), "is not a power of two"),
            (HandGGUF.kv("general.alignment", type: 8, HandGGUF.string("32")), "is not a power of two"),
            (HandGGUF.kv("general.name", type: 8, HandGGUF.string("again")), "metadata key general.name appears twice"),
        ]
        for (i, (kv, problem)) in cases.enumerated() {
            var g = HandGGUF.valid
            g.metadata.append(kv)
            let path = try write("align\(i).gguf", g)
            assertCheckpointError(path, problem) { try open(path) }
        }
    }

    func testDeeplyNestedArraysAreRejected() throws {
        var value: [UInt8] = []
        for _ in 0..<6 { value.putLE(UInt32(9)); value.putLE(UInt64(1)) }
        value.putLE(UInt32(0)); value.putLE(UInt64(0))
        var g = HandGGUF.valid
        g.metadata.append(HandGGUF.kv("x.deep", type: 9, value))
        let path = try write("deep.gguf", g)
        assertCheckpointError(path, "arrays nested too deep") { try open(path) }
    }

    /// Every prefix of llama.cpp's file's header and random byte flips in it give a file or a CheckpointError.
    func testCorruptedCopiesOfAFixtureNeverCrash() throws {
        let original = try readBytes(Fixtures.fixture("stablelm-tiny.q8_0.gguf").path)
        let header = try GGUFFile(path: Fixtures.fixture("stablelm-tiny.q8_0.gguf").path).dataOffset
        for cut in stride(from: 0, to: header + 64, by: 211) {
            let path = try write("prefix.gguf", Array(original[0..<cut]))
            XCTAssertThrowsError(try open(path)) { XCTAssertTrue($0 is CheckpointError, "cut \(cut): \($0)") }
        }
        // The fixed-size fields and the first keys, then anywhere in the header.
        var rng = SeededFloats(seed: 11)
        for trial in 0..<150 {
            var copy = original
            let span = trial < 75 ? 256 : header
            let at = Int((rng.next() + 1) / 2 * Float(span)) % span
            copy[at] = UInt8(truncatingIfNeeded: Int((rng.next() + 1) * 128))
            if trial % 2 == 0 { copy[min(at + 7, span - 1)] = 0xFF }
            let path = try write("flip.gguf", copy)
            do { try open(path) } catch { XCTAssertTrue(error is CheckpointError, "trial \(trial): \(error)") }
        }
    }
}
