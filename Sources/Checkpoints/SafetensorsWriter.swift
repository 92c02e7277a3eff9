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
        var source: Source
        var byteCount: Int
    }

    private enum Source {
        case bytes(Data)
        /// Float32 values read (and converted to the entry's type) only while `write()` runs.
        case floats(UnsafeBufferPointer<Float>)
    }

    /// Floats converted and written at a time for a borrowed tensor stored as F16 or BF16.
    static let conversionChunk = 1 << 20

    public init(path: String, metadata: [String: String] = [:]) { self.path = path; self.metadata = metadata }

    public var tensorNames: [String] { entries.keys.sorted(by: Self.byteOrder) }

    /// Adds a tensor from its raw little-endian bytes. `shape` is row-major ([rows, cols] for a linear weight).
    /// The bytes are kept until `write()`; to avoid a copy of a large tensor, pass
    /// `Data(bytesNoCopy:count:deallocator: .none)` over memory that outlives the writer.
    public mutating func add(_ name: String, type: GGMLType, shape: [Int], bytes: Data) throws {
        try add(name, type: type, shape: shape, source: .bytes(bytes), byteCount: bytes.count)
    }

    /// Adds a tensor whose Float values stay in the caller's memory until `write()` reads them (as F32
    /// straight, as F16 or BF16 a chunk at a time): a checkpoint of a model's parameters and AdamW's
    /// moments then costs no second copy of them. The memory must stay valid and unchanged until
    /// `write()` returns.
    public mutating func add(_ name: String, shape: [Int], borrowing floats: UnsafeBufferPointer<Float>, as type: GGMLType = .f32) throws {
        guard [.f32, .f16, .bf16].contains(type) else {
            throw CheckpointError.unknownDType(path: path, tensor: name, dtype: "\(type) (floats are written as F32, F16 or BF16)")
        }
        try add(name, type: type, shape: shape, source: .floats(floats), byteCount: floats.count * type.bytesPerBlock)
    }

    private mutating func add(_ name: String, type: GGMLType, shape: [Int], source: Source, byteCount: Int) throws {
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
        guard needed == byteCount else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name): \(dtype)\(shape) needs \(needed) bytes, \(byteCount) given")
        }
        entries[name] = Entry(dtype: dtype, type: type, shape: shape, source: source, byteCount: byteCount)
    }

    /// Adds a tensor of Float values stored as F32, F16 or BF16 (rounded to nearest even).
    public mutating func add(_ name: String, shape: [Int], floats: [Float], as type: GGMLType = .f32) throws {
        let bytes: Data
        switch type {
        case .f32: bytes = floats.withUnsafeBytes { Data($0) }
        case .f16, .bf16: bytes = floats.map { Self.bits16($0, as: type) }.withUnsafeBytes { Data($0) }
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
            let n = entries[name]!.byteCount
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
        var converted: [UInt16] = []
        for name in order {
            let e = entries[name]!
            switch e.source {
            case .bytes(let data): try file.write(data)
            case .floats(let floats) where e.type == .f32: try file.write(UnsafeRawBufferPointer(floats))
            case .floats(let floats):
                for start in stride(from: 0, to: floats.count, by: Self.conversionChunk) {
                    let chunk = floats[start..<min(start + Self.conversionChunk, floats.count)]
                    converted.removeAll(keepingCapacity: true)
                    converted.append(contentsOf: chunk.lazy.map { Self.bits16($0, as: e.type) })
                    try converted.withUnsafeBytes { try file.write($0) }
                }
            }
        }
        try file.commit()
    }

    /// A float as F16 or BF16 (rounded to nearest even), little-endian bits.
    static func bits16(_ x: Float, as type: GGMLType) -> UInt16 {
        (type == .f16 ? Float16(x).bitPattern : bfloat16Bits(x)).littleEndian
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
