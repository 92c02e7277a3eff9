// safetensors: an 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
// {dtype, shape, data_offsets: [begin, end]} (offsets relative to the end of the header), then data.
import Foundation
import Kernels

public final class SafetensorsFile: TensorSource {
    public let file: MappedFile
    public let tensorInfos: [String: TensorInfo]
    public let metadata: [String: String]

    public static let dtypes: [String: GGMLType] = ["F32": .f32, "F16": .f16, "BF16": .bf16, "F64": .f64,
                                                    "I64": .i64, "I32": .i32, "I16": .i16, "I8": .i8]

    /// The largest JSON header read (the safetensors format's own limit, 100 MB); a declared length above
    /// it is refused before the header is decoded.
    public static let headerLimit = 100_000_000

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        guard file.count >= 8 else {
            throw CheckpointError.truncated(path: path, what: file.count == 0 ? "the file is empty"
                : "\(file.count) bytes, fewer than the 8-byte header length")
        }
        var reader = ByteReader(file)
        let headerLength = try reader.read(UInt64.self, "header length")
        guard headerLength <= UInt64(file.count - 8) else {
            throw CheckpointError.truncated(path: path, what: "header length \(headerLength) is larger than the file (\(file.count) bytes)")
        }
        guard headerLength <= UInt64(Self.headerLimit) else {
            throw CheckpointError.malformed(path: path, what: "header length \(headerLength) exceeds the limit of \(Self.headerLimit) bytes (SafetensorsFile.headerLimit)")
        }
        let headerBytes = try reader.bytes(Int(headerLength), "header")
        let dataStart = 8 + Int(headerLength)
        let header = try Header.decode(Data(headerBytes), path: path)
        var infos: [String: TensorInfo] = [:]
        for (name, entry) in header.tensors {
            guard let type = Self.dtypes[entry.dtype] else { throw CheckpointError.unknownDType(path: path, tensor: name, dtype: entry.dtype) }
            let shape = entry.shape, offsets = entry.data_offsets
            guard shape.allSatisfy({ $0 >= 0 }) else { throw CheckpointError.malformed(path: path, what: "tensor \(name) has a negative dimension in shape \(shape)") }
            guard offsets.count == 2, offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw CheckpointError.malformed(path: path, what: "tensor \(name) has bad data_offsets \(offsets)")
            }
            guard let expected = checkedByteCount(shape: shape, elementSize: type.bytesPerBlock) else {
                throw CheckpointError.malformed(path: path, what: "tensor \(name) has an impossibly large shape \(shape)")
            }
            guard offsets[1] - offsets[0] == expected else {
                throw CheckpointError.malformed(path: path, what: "tensor \(name) spans \(offsets[1] - offsets[0]) bytes (data_offsets \(offsets)) but \(entry.dtype)\(shape) needs \(expected)")
            }
            guard offsets[1] <= file.count - dataStart else {
                throw CheckpointError.truncated(path: path, what: "tensor \(name) ends at byte \(offsets[1]) of the data, past the end (\(file.count - dataStart) data bytes)")
            }
            infos[name] = TensorInfo(name: name, type: type, shape: shape, offset: dataStart + offsets[0], byteCount: expected)
        }
        // The tensors must tile the data region exactly, as the format requires: a header one byte short
        // (or long) would otherwise shift every tensor by a byte and still "load".
        var end = 0
        for t in infos.values.sorted(by: { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }) {
            let begin = t.offset - dataStart
            guard begin == end else {
                throw CheckpointError.malformed(path: path, what: begin > end
                    ? "data bytes \(end)..<\(begin) belong to no tensor (before \(t.name); is the header length right?)"
                    : "tensor \(t.name) overlaps the tensor before it (data_offsets start at \(begin), previous ends at \(end))")
            }
            end = begin + t.byteCount
        }
        guard end == file.count - dataStart else {
            throw CheckpointError.malformed(path: path, what: "the tensors cover \(end) data bytes but the file holds \(file.count - dataStart) after the \(headerLength)-byte header (a wrong header length or trailing bytes)")
        }
        self.tensorInfos = infos
        self.metadata = header.metadata
    }

    /// The JSON header, decoded strictly: integers must be integers, `__metadata__` maps strings to strings.
    struct Header: Decodable {
        struct Entry: Decodable {
            var dtype: String
            var shape: [Int]
            var data_offsets: [Int]
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        var tensors: [String: Entry] = [:]
        var metadata: [String: String] = [:]

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            for key in c.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    tensors[key.stringValue] = try c.decode(Entry.self, forKey: key)
                }
            }
        }

        static func decode(_ data: Data, path: String) throws -> Header {
            // JSONDecoder would also accept a JSON fragment; a header must be an object.
            guard let json = try? JSONSerialization.jsonObject(with: data, options: []) else {
                throw CheckpointError.malformed(path: path, what: "header is not valid JSON")
            }
            do {
                return try JSONDecoder().decode(Header.self, from: data)
            } catch DecodingError.dataCorrupted(let ctx) where ctx.codingPath.isEmpty {
                // Some JSONDecoders report a number that does not fit an Int without saying where.
                throw CheckpointError.malformed(path: path, what: "\(badNumber(in: json) ?? "header") has a bad value (not a whole number that fits 64 bits)")
            } catch let error as DecodingError {
                throw CheckpointError.malformed(path: path, what: describe(error))
            } catch {
                throw CheckpointError.malformed(path: path, what: "header is not valid JSON")
            }
        }

        /// The first tensor field holding a number that is not a 64-bit whole number.
        static func badNumber(in json: Any) -> String? {
            guard let header = json as? [String: Any] else { return nil }
            for name in header.keys.sorted() where name != "__metadata__" {
                guard let entry = header[name] as? [String: Any] else { continue }
                for field in ["shape", "data_offsets"] {
                    for case let n as NSNumber in (entry[field] as? [Any]) ?? [] {
                        let d = n.doubleValue
                        if d != d.rounded() || abs(d) >= 0x1p63 { return "tensor \(name) \(field)" }
                    }
                }
            }
            return nil
        }

        static func describe(_ error: DecodingError) -> String {
            func where_(_ ctx: DecodingError.Context) -> String {
                guard let first = ctx.codingPath.first else { return "header" }
                let rest = ctx.codingPath.dropFirst().filter { $0.intValue == nil }.map(\.stringValue)
                let owner = first.stringValue == "__metadata__" ? "__metadata__" : "tensor \(first.stringValue)"
                return rest.isEmpty ? owner : "\(owner) \(rest.joined(separator: "."))"
            }
            switch error {
            case .typeMismatch(_, let ctx) where ctx.codingPath.isEmpty: return "header is not a JSON object"
            case .typeMismatch(_, let ctx): return "\(where_(ctx)) has the wrong type" + (ctx.codingPath.first?.stringValue == "__metadata__" ? " (values must be strings)" : "")
            case .valueNotFound(_, let ctx): return "\(where_(ctx)) is null"
            case .keyNotFound(let key, let ctx): return "\(where_(ctx)) lacks \(key.stringValue)"
            case .dataCorrupted(let ctx): return "\(where_(ctx)) has a bad value (\(ctx.debugDescription))"
            @unknown default: return "cannot be decoded"
            }
        }
    }
}
