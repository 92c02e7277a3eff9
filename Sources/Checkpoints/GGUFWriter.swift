// Writes GGUF version 3 as llama.cpp does: magic, version, tensor count, metadata count, metadata
// key/value pairs in the order they were set, tensor infos (name, dims fastest-varying first, ggml
// type, offset into the data section), zero padding to `general.alignment`, then each tensor's
// bytes, each padded to the alignment. Tensors of any ggml type are given as their raw bytes.
import Foundation
import Kernels

public struct GGUFWriter {
    /// Where `write()` puts the file (errors name it too).
    public let path: String
    public private(set) var metadataKeys: [String] = []
    public private(set) var metadata: [String: GGUFValue] = [:]
    private var tensors: [Tensor] = []
    private var tensorNames: Set<String> = []

    private struct Tensor {
        var name: String
        var type: GGMLType
        var dims: [UInt64]
        var bytes: Data
    }

    public init(path: String) { self.path = path }

    /// Data alignment: `general.alignment` when set, else GGUF's default of 32.
    public var alignment: Int { metadata["general.alignment"]?.intValue ?? 32 }

    /// Sets a metadata value; a new key goes last, a key set again keeps its place.
    /// `general.alignment` must be a uint32 power of two (llama.cpp aborts on any other type).
    public mutating func set(_ key: String, _ value: GGUFValue) throws {
        if key == "general.alignment" {
            guard case .uint32(let a) = value, a > 0, a <= 1 << 30, a & (a - 1) == 0 else {
                throw CheckpointError.cannotWrite(path: path, reason: "general.alignment \(value) is not a uint32 power of two")
            }
        }
        try checkHomogeneous(value, key)
        if metadata[key] == nil { metadataKeys.append(key) }
        metadata[key] = value
    }

    /// Adds a tensor from its raw bytes. `shape` is row-major, slowest dimension first, as `TensorInfo.shape`
    /// (a linear weight is [out, in]); the file stores it reversed. Rows must be whole blocks of `type`.
    /// The bytes are kept until `write()`; to avoid a copy of a large tensor, pass
    /// `Data(bytesNoCopy:count:deallocator: .none)` over memory that outlives the writer.
    public mutating func addTensor(_ name: String, type: GGMLType, shape: [Int], bytes: Data) throws {
        guard !tensorNames.contains(name) else { throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) added twice") }
        // ggml's GGML_MAX_NAME is 64 bytes including the terminating zero.
        guard !name.isEmpty, name.utf8.count < 64 else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor name '\(name)' must be 1 to 63 bytes (llama.cpp's limit)")
        }
        guard (1...4).contains(shape.count), shape.allSatisfy({ $0 >= 0 }) else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) has a bad shape \(shape) (1 to 4 dimensions)")
        }
        guard shape.last! % type.blockSize == 0 else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name): rows of \(shape.last!) are not whole \(type) blocks of \(type.blockSize)")
        }
        var elements = 1
        for d in shape {
            let (m, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name) shape \(shape) is too large") }
            elements = m
        }
        guard let needed = type.byteCount(elements: elements), needed == bytes.count else {
            throw CheckpointError.cannotWrite(path: path, reason: "tensor \(name): \(type)\(shape) needs \(type.byteCount(elements: elements) ?? -1) bytes, \(bytes.count) given")
        }
        tensors.append(Tensor(name: name, type: type, dims: shape.reversed().map { UInt64($0) }, bytes: bytes))
        tensorNames.insert(name)
    }

    /// Adds Float values as an F32 tensor.
    public mutating func addTensor(_ name: String, shape: [Int], floats: [Float]) throws {
        try addTensor(name, type: .f32, shape: shape, bytes: floats.withUnsafeBytes { Data($0) })
    }

    /// Writes the file under a temporary name beside `path`, then renames it to `path`.
    public func write() throws {
        let align = alignment
        var head = ByteWriter()
        head.put(GGUFFile.magic)
        head.put(UInt32(3))
        head.put(UInt64(tensors.count))
        head.put(UInt64(metadataKeys.count))
        for key in metadataKeys {
            let value = metadata[key]!
            head.putString(key)
            head.put(Self.typeID(value))
            head.putValue(value)
        }
        var offset = 0
        for t in tensors {
            head.putString(t.name)
            head.put(UInt32(t.dims.count))
            for d in t.dims { head.put(d) }
            head.put(t.type.rawValue)
            head.put(UInt64(offset))
            offset += Self.padded(t.bytes.count, align)
        }
        head.bytes.append(contentsOf: repeatElement(0, count: Self.padded(head.bytes.count, align) - head.bytes.count))

        let file = try AtomicFile(path: path)
        try file.write(head.bytes)
        for t in tensors {
            try file.write(t.bytes)
            try file.writeZeros(Self.padded(t.bytes.count, align) - t.bytes.count)
        }
        try file.commit()
    }

    static func padded(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// GGUF's metadata value type numbers.
    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// GGUF arrays hold one element type; nested arrays each carry their own.
    private func checkHomogeneous(_ value: GGUFValue, _ key: String) throws {
        guard case .array(let items) = value, let first = items.first else { return }
        let type = Self.typeID(first)
        for item in items {
            guard Self.typeID(item) == type else {
                throw CheckpointError.cannotWrite(path: path, reason: "metadata \(key): an array mixes value types \(type) and \(Self.typeID(item))")
            }
            try checkHomogeneous(item, key)
        }
    }
}

/// Little-endian serialization of GGUF's header parts.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func putString(_ s: String) {
        put(UInt64(s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func putValue(_ v: GGUFValue) {
        switch v {
        case .uint8(let x): put(x)
        case .int8(let x): put(x)
        case .uint16(let x): put(x)
        case .int16(let x): put(x)
        case .uint32(let x): put(x)
        case .int32(let x): put(x)
        case .float32(let x): put(x.bitPattern)
        case .bool(let x): put(UInt8(x ? 1 : 0))
        case .string(let s): putString(s)
        case .uint64(let x): put(x)
        case .int64(let x): put(x)
        case .float64(let x): put(x.bitPattern)
        case .array(let items):
            // An empty array's element type is lost when read; uint8 is as good as any.
            put(items.first.map(GGUFWriter.typeID) ?? 0)
            put(UInt64(items.count))
            for item in items { putValue(item) }
        }
    }
}
