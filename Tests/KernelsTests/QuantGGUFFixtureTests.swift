// Cross-checks against files written by llama.cpp's converter: re-quantizing the F32 model's
// tensors to Q8_0 with our reference quantizer gives byte-identical blocks to llama.cpp's Q8_0 file,
// and a QuantizedMatrix over the mapped Q8_0 bytes multiplies like the F32 weights.
// KernelsTests cannot depend on Checkpoints, so a minimal GGUF reader lives here.
import Foundation
import TestSupport
import XCTest
import Kernels

/// Just enough GGUF (v2/v3) to find tensors: header, skipped metadata, tensor infos, aligned data.
private struct MiniGGUF {
    struct TensorInfo { let name: String; let dims: [Int]; let type: GGMLType; let offset: Int }
    let bytes: Data
    let tensors: [String: TensorInfo]
    let dataStart: Int

    init(_ url: URL) throws {
        let bytes = try Data(contentsOf: url)
        var o = 0
        func u32() -> UInt32 { defer { o += 4 }; return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        func u64() -> UInt64 { defer { o += 8 }; return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt64.self) } }
        func string() -> String {
            let n = Int(u64())
            defer { o += n }
            return String(decoding: bytes[bytes.startIndex + o ..< bytes.startIndex + o + n], as: UTF8.self)
        }
        var alignment = 32
        func skipValue(_ type: UInt32, key: String) {
            switch type {
            case 0, 1, 7: o += 1
            case 2, 3: o += 2
            case 4, 5, 6:
                if key == "general.alignment" { alignment = Int(u32()) } else { o += 4 }
            case 10, 11, 12: o += 8
            case 8: _ = string()
            case 9:
                let elementType = u32(), count = u64()
                for _ in 0..<count { skipValue(elementType, key: "") }
            default: fatalError("unknown GGUF value type \(type)")
            }
        }
        precondition(bytes.prefix(4) == Data("GGUF".utf8), "not a GGUF file")
        o = 4
        _ = u32()
        let tensorCount = u64(), kvCount = u64()
        for _ in 0..<kvCount {
            let key = string()
            skipValue(u32(), key: key)
        }
        var tensors: [String: TensorInfo] = [:]
        for _ in 0..<tensorCount {
            let name = string()
            let dims = (0..<u32()).map { _ in Int(u64()) }
            let type = GGMLType(rawValue: u32())!
            tensors[name] = TensorInfo(name: name, dims: dims, type: type, offset: Int(u64()))
        }
        self.bytes = bytes
        self.tensors = tensors
        dataStart = (o + alignment - 1) / alignment * alignment
    }

    func withBytes<R>(_ t: TensorInfo, _ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { try body($0.baseAddress! + dataStart + t.offset) }
    }
}

final class QuantGGUFFixtureTests: XCTestCase {
    private func load() throws -> (f32: MiniGGUF, q8: MiniGGUF) {
        let f32URL = Fixtures.fixture("stablelm-tiny.f32.gguf"), q8URL = Fixtures.fixture("stablelm-tiny.q8_0.gguf")
        guard FileManager.default.fileExists(atPath: f32URL.path), FileManager.default.fileExists(atPath: q8URL.path) else {
            throw XCTSkip("stablelm-tiny fixtures not found under \(Fixtures.shared.path)")
        }
        return (try MiniGGUF(f32URL), try MiniGGUF(q8URL))
    }

    func testQ8_0RequantizationIsByteIdenticalToLlamaCpp() throws {
        let (f32, q8) = try load()
        let q8Tensors = q8.tensors.values.filter { $0.type == .q8_0 }
        XCTAssertGreaterThan(q8Tensors.count, 10)
        var blocks = 0
        for t in q8Tensors {
            let source = try XCTUnwrap(f32.tensors[t.name], t.name)
            XCTAssertEqual(source.type, .f32)
            XCTAssertEqual(source.dims, t.dims)
            let count = t.dims.reduce(1, *)
            let size = GGMLType.q8_0.byteCount(elements: count)!
            var ours = [UInt8](repeating: 0, count: size)
            try f32.withBytes(source) { src in
                let floats = Array(UnsafeBufferPointer(start: src.bindMemory(to: Float.self, capacity: count), count: count))
                try floats.withUnsafeBufferPointer { try quantizeReference(.q8_0, $0.baseAddress!, &ours, count: count) }
            }
            let theirs = q8.withBytes(t) { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            let firstDifference = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertNil(firstDifference, "\(t.name): first differing byte \(firstDifference ?? -1) (block \((firstDifference ?? 0) / 34))")
            blocks += size / 34
        }
        XCTAssertGreaterThan(blocks, 10_000)
    }

    func testMatVecOverLlamaCppQ8_0WeightsMatchesF32Weights() throws {
        let (f32, q8) = try load()
        let pool = ThreadPool(threads: 2)
        for name in ["token_embd.weight", "blk.0.ffn_up.weight", "blk.1.attn_q.weight"] {
            let qt = try XCTUnwrap(q8.tensors[name]), ft = try XCTUnwrap(f32.tensors[name])
            let cols = qt.dims[0], rows = qt.dims[1]  // GGUF lists the fastest-varying dimension first
            let x = randomRow(cols, seed: 77)
            var y = [Float](repeating: 0, count: rows)
            try q8.withBytes(qt) { p in
                try QuantizedMatrix(type: .q8_0, rows: rows, cols: cols, data: p).matVec(x: x, into: &y, pool: pool)
            }
            f32.withBytes(ft) { p in
                let w = p.bindMemory(to: Float.self, capacity: rows * cols)
                for r in 0..<rows {
                    var exact = 0.0, magnitude = 0.0
                    for c in 0..<cols {
                        exact += Double(w[r * cols + c]) * Double(x[c])
                        magnitude += abs(Double(w[r * cols + c]) * Double(x[c]))
                    }
                    XCTAssertEqual(Double(y[r]), exact, accuracy: 0.02 * magnitude + 1e-6, "\(name) row \(r)")
                }
            }
        }
    }
}
