// GGUF (versions 2 and 3): magic "GGUF", version, tensor count, metadata key/value pairs, tensor
// infos (name, dims with the fastest-varying first, type, offset), then aligned tensor data.
import Foundation
import Kernels

public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue]), uint64(UInt64), int64(Int64), float64(Double)

    public var intValue: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }

    public var floatValue: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var arrayValue: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }
}

public final class GGUFFile: TensorSource {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    /// The most elements a metadata array may hold (real vocabularies and merge lists hold under a
    /// million): a decoded element takes ~20 bytes where the file may spend one.
    public static let arrayLengthLimit = 1 << 22
    public let file: MappedFile
    public var url: URL { URL(fileURLWithPath: file.path) }
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for faithful rewriting).
    public let metadataKeys: [String]
    /// Tensors in file order.
    public let tensors: [TensorInfo]
    public let tensorInfos: [String: TensorInfo]
    public let alignment: Int
    public let dataOffset: Int

    public convenience init(url: URL) throws { try self.init(path: url.path) }
    public convenience init(path: String) throws { try self.init(file: MappedFile(path: path)) }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var r = ByteReader(file)
        guard file.count > 0 else { throw CheckpointError.truncated(path: path, what: "the file is empty") }
        guard file.count >= 4 else { throw CheckpointError.badMagic(path: path) }
        let magic = try r.read(UInt32.self, "magic")
        guard magic == Self.magic else { throw CheckpointError.badMagic(path: path) }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw CheckpointError.unsupportedVersion(path: path, version: version) }
        let tensorCount = try r.read(UInt64.self, "tensor count")
        let kvCount = try r.read(UInt64.self, "metadata count")
        // Each entry takes at least a few bytes, so counts larger than the file are corrupt.
        guard tensorCount < UInt64(file.count), kvCount < UInt64(file.count) else {
            throw CheckpointError.malformed(path: path, what: "tensor count \(tensorCount) or metadata count \(kvCount) exceeds the file size")
        }

        func readString(_ what: String) throws -> String {
            let n = try r.read(UInt64.self, what)
            guard n <= UInt64(file.count - r.offset) else {
                throw CheckpointError.truncated(path: path, what: "\(what): string of \(n) bytes at byte \(r.offset) runs past the end (\(file.count) bytes)")
            }
            let bytes = try r.bytes(Int(n), what)
            return String(decoding: bytes, as: UTF8.self)
        }

        func readValue(type: UInt32, _ what: String, depth: Int = 0) throws -> GGUFValue {
            switch type {
            case 0: return .uint8(try r.read(UInt8.self, what))
            case 1: return .int8(try r.read(Int8.self, what))
            case 2: return .uint16(try r.read(UInt16.self, what))
            case 3: return .int16(try r.read(Int16.self, what))
            case 4: return .uint32(try r.read(UInt32.self, what))
            case 5: return .int32(try r.read(Int32.self, what))
            case 6: return .float32(Float(bitPattern: try r.read(UInt32.self, what)))
            case 7:
                let b = try r.read(UInt8.self, what)
                guard b <= 1 else { throw CheckpointError.malformed(path: path, what: "\(what): bool value \(b)") }
                return .bool(b == 1)
            case 8: return .string(try readString(what))
            case 9:
                guard depth < 4 else { throw CheckpointError.malformed(path: path, what: "\(what): arrays nested too deep") }
                let elementType = try r.read(UInt32.self, what)
                // Smallest encoding of one element, so a corrupt count cannot reserve more than the file holds.
                let minimumSize: UInt64
                switch elementType {
                case 0, 1, 7: minimumSize = 1
                case 2, 3: minimumSize = 2
                case 4, 5, 6: minimumSize = 4
                case 8, 10, 11, 12: minimumSize = 8
                case 9: minimumSize = 12
                default: throw CheckpointError.malformed(path: path, what: "\(what): unknown array element type \(elementType)")
                }
                let n = try r.read(UInt64.self, what)
                guard n <= UInt64(file.count - r.offset) / minimumSize else {
                    throw CheckpointError.truncated(path: path, what: "\(what): array of \(n) elements at byte \(r.offset) runs past the end (\(file.count) bytes)")
                }
                guard n <= UInt64(Self.arrayLengthLimit) else {
                    throw CheckpointError.malformed(path: path, what: "\(what): array of \(n) elements exceeds the limit of \(Self.arrayLengthLimit) (GGUFFile.arrayLengthLimit)")
                }
                var items: [GGUFValue] = []
                items.reserveCapacity(Int(n))
                for _ in 0..<Int(n) { items.append(try readValue(type: elementType, what, depth: depth + 1)) }
                return .array(items)
            case 10: return .uint64(try r.read(UInt64.self, what))
            case 11: return .int64(try r.read(Int64.self, what))
            case 12: return .float64(Double(bitPattern: try r.read(UInt64.self, what)))
            default: throw CheckpointError.malformed(path: path, what: "\(what): unknown metadata value type \(type)")
            }
        }

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for i in 0..<Int(kvCount) {
            let key = try readString("metadata key \(i)")
            guard metadata[key] == nil else { throw CheckpointError.malformed(path: path, what: "metadata key \(key) appears twice") }
            let type = try r.read(UInt32.self, "type of \(key)")
            metadata[key] = try readValue(type: type, "value of \(key)")
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys
        alignment = metadata["general.alignment"].map { $0.intValue ?? -1 } ?? 32
        guard alignment > 0, alignment <= 1 << 30, alignment & (alignment - 1) == 0 else {
            throw CheckpointError.malformed(path: path, what: "general.alignment \(metadata["general.alignment"]!) is not a power of two")
        }

        struct RawInfo { var name: String; var dims: [Int]; var type: GGMLType; var offset: Int }
        var raw: [RawInfo] = []
        var seenNames: Set<String> = []
        for i in 0..<Int(tensorCount) {
            let name = try readString("tensor \(i) name")
            guard seenNames.insert(name).inserted else { throw CheckpointError.malformed(path: path, what: "tensor \(name) appears twice") }
            let nDims = try r.read(UInt32.self, "dimension count of \(name)")
            guard nDims >= 1, nDims <= 4 else { throw CheckpointError.malformed(path: path, what: "tensor \(name) has \(nDims) dimensions") }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try r.read(UInt64.self, "dimensions of \(name)")
                guard d <= UInt64(Int32.max) else { throw CheckpointError.malformed(path: path, what: "tensor \(name) has dimension \(d)") }
                dims.append(Int(d))
            }
            let typeID = try r.read(UInt32.self, "type of \(name)")
            guard let type = GGMLType(rawValue: typeID) else {
                throw CheckpointError.unknownDType(path: path, tensor: name, dtype: "ggml type \(typeID)")
            }
            let offset = try r.read(UInt64.self, "offset of \(name)")
            guard offset <= UInt64(file.count) else {
                throw CheckpointError.truncated(path: path, what: "tensor \(name) data offset \(offset) is past the end (\(file.count) bytes)")
            }
            guard offset % UInt64(alignment) == 0 else {
                throw CheckpointError.malformed(path: path, what: "tensor \(name) data offset \(offset) is not a multiple of the alignment \(alignment)")
            }
            raw.append(RawInfo(name: name, dims: dims, type: type, offset: Int(offset)))
        }
        dataOffset = (r.offset + alignment - 1) / alignment * alignment

        var infos: [TensorInfo] = []
        var byName: [String: TensorInfo] = [:]
        for t in raw {
            guard t.dims[0] % t.type.blockSize == 0 else {
                throw CheckpointError.malformed(path: path, what: "tensor \(t.name): row of \(t.dims[0]) elements is not a whole number of \(t.type) blocks of \(t.type.blockSize)")
            }
            guard let count = checkedByteCount(shape: t.dims, elementSize: 1),
                  count / t.type.blockSize <= file.count / t.type.bytesPerBlock, let bytes = t.type.byteCount(elements: count) else {
                throw CheckpointError.truncated(path: path, what: "tensor \(t.name) of \(t.type) dims \(t.dims) is larger than the file (\(file.count) bytes)")
            }
            let start = dataOffset + t.offset
            guard start <= file.count, file.count - start >= bytes else {
                throw CheckpointError.truncated(path: path, what: "tensor \(t.name) data (\(bytes) bytes at \(start)) runs past the end (\(file.count) bytes)")
            }
            let info = TensorInfo(name: t.name, type: t.type, shape: Array(t.dims.reversed()), offset: start, byteCount: bytes)
            infos.append(info)
            byName[t.name] = info
        }
        tensors = infos
        tensorInfos = byName
    }

    // Typed metadata accessors.
    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    public func float(_ key: String) -> Double? { metadata[key]?.floatValue }
    public func bool(_ key: String) -> Bool? {
        if case .bool(let b)? = metadata[key] { return b }
        return metadata[key]?.intValue.map { $0 != 0 }
    }
    public func stringArray(_ key: String) -> [String]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a { guard let s = v.stringValue else { return nil }; out.append(s) }
        return out
    }
    public func floatArray(_ key: String) -> [Float]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for v in a { guard let f = v.floatValue else { return nil }; out.append(Float(f)) }
        return out
    }
    public func intArray(_ key: String) -> [Int]? {
        guard let a = metadata[key]?.arrayValue else { return nil }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for v in a { guard let i = v.intValue else { return nil }; out.append(i) }
        return out
    }
}
