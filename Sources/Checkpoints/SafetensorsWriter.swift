// Writes safetensors as Hugging Face's `safetensors` library does: an 8-byte little-endian header
// length, a compact JSON header (`__metadata__` first, then tensors by name, each with dtype, shape
// and data_offsets) padded with spaces to a multiple of 8 bytes, then the tensor bytes. Data is laid
// out by decreasing element size, then name, so every tensor starts aligned to its element size and
// can be used in place from a memory map.
import Basics
import Foundation
import Kernels

public struct SafetensorsWriter {
    /// Where `write()` puts the file (errors name it too).
    public let path: String
    /// `__metadata__`: free-form string pairs (transformers writes `{"format": "pt"}`).
    public var metadata: [String: String]
    private var entries: [String: Entry] = [:]

    private struct Entry {
        var dtype: String
        var type: GGMLType
        var shape: [Int]
        var bytes: Data
    }

    public init(path: String, metadata: [String: String] = [:]) { self.path = path; self.metadata = metadata }

    public var tensorNames: [String] { entries.keys.sorted(by: Self.byteOrder) }

    /// Adds a tensor from its raw little-endian bytes. `shape` is row-major ([rows, cols] for a linear weight).
    /// The bytes are kept until `write()`; to avoid a copy of a large tensor, pass
    /// `Data(bytesNoCopy:count:deallocator: .none)` over memory that outlives the writer.
    public mutating func add(_ name: String, type: GGMLType, shape: [Int], bytes: Data) throws {
        guard let dtype = SafetensorsFile.dtypes.first(where: { $0.value == type })?.key else {
            throw CheckpointError.unknownDType(path: path, tensor: name, dtype: "\(type) (safetensors holds only unquantized types)")
        }
        guard !name.isEmpty, name != "__metadata__" else {
            throw CheckpointError.cannotWrite(path: path, reason: "'\(name)' is not a valid tensor name")
        }
        guard entries[name] == nil else { throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) added twice") }
        guard let needed = checkedByteCount(shape: shape, elementSize: type.bytesPerBlock) else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) has a bad shape \(shape)")
        }
        guard needed == bytes.count else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name): \(dtype)\(shape) needs \(needed) bytes, \(bytes.count) given")
        }
        entries[name] = Entry(dtype: dtype, type: type, shape: shape, bytes: bytes)
    }

    /// Adds a tensor of Float values stored as F32, F16 or BF16 (rounded to nearest even).
    public mutating func add(_ name: String, shape: [Int], floats: [Float], as type: GGMLType = .f32) throws {
        let bytes: Data
        switch type {
        case .f32: bytes = floats.withUnsafeBytes { Data($0) }
        case .f16: bytes = floats.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        case .bf16: bytes = floats.map { bfloat16Bits($0).littleEndian }.withUnsafeBytes { Data($0) }
        default:
            throw CheckpointError.unknownDType(path: path, tensor: name, dtype: "\(type) (floats are written as F32, F16 or BF16)")
        }
        try add(name, type: type, shape: shape, bytes: bytes)
    }

    /// The header block: its length (8 bytes) and the space-padded JSON, and the data order it describes.
    func header() -> (bytes: [UInt8], order: [String]) {
        let order = entries.keys.sorted { a, b in
            let sa = entries[a]!.type.bytesPerBlock, sb = entries[b]!.type.bytesPerBlock
            return sa != sb ? sa > sb : Self.byteOrder(a, b)
        }
        var offsets: [String: (Int, Int)] = [:]
        var position = 0
        for name in order {
            let n = entries[name]!.bytes.count
            offsets[name] = (position, position + n)
            position += n
        }
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted(by: Self.byteOrder).map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }.joined(separator: ",")
            json += "}"
            first = false
        }
        for name in tensorNames {
            let e = entries[name]!, (begin, end) = offsets[name]!
            if !first { json += "," }
            first = false
            json += "\(jsonString(name)):{\"dtype\":\"\(e.dtype)\",\"shape\":[\(e.shape.map(String.init).joined(separator: ","))],"
            json += "\"data_offsets\":[\(begin),\(end)]}"
        }
        json += "}"
        var body = Array(json.utf8)
        while body.count % 8 != 0 { body.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + body.count)
        withUnsafeBytes(of: UInt64(body.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
        return (out, order)
    }

    /// Writes the file under a temporary name beside `path`, then renames it to `path`.
    public func write() throws {
        let file = try AtomicFile(path: path)
        let (headerBytes, order) = header()
        try file.write(headerBytes)
        for name in order { try file.write(entries[name]!.bytes) }
        try file.commit()
    }

    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
}

/// Float32 to bfloat16 bits, rounding to nearest even as PyTorch does; NaN stays a quiet NaN.
public func bfloat16Bits(_ x: Float) -> UInt16 {
    if x.isNaN { return 0x7FC0 }
    let bits = x.bitPattern
    let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: rounded >> 16)
}

/// A JSON string literal (JSONLiteral's one rule).
func jsonString(_ s: String) -> String { JSONLiteral.string(s) }
