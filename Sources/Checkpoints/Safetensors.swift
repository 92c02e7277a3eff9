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

    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        var reader = ByteReader(file)
        let headerLength = try reader.read(UInt64.self, "header length")
        guard headerLength <= UInt64(file.count - 8) else {
            throw CheckpointError.truncated(path: path, what: "header length \(headerLength) is larger than the file (\(file.count) bytes)")
        }
        let headerBytes = try reader.bytes(Int(headerLength), "header")
        let dataStart = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw CheckpointError.malformed(path: path, what: "header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw CheckpointError.malformed(path: path, what: "header is not a JSON object") }
        var infos: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = v as? String ?? "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                  let shapeAny = entry["shape"] as? [Any], let offsetsAny = entry["data_offsets"] as? [Any], offsetsAny.count == 2 else {
                throw CheckpointError.malformed(path: path, what: "entry for tensor \(name) lacks dtype, shape or data_offsets")
            }
            guard let type = Self.dtypes[dtypeName] else { throw CheckpointError.unknownDType(path: path, tensor: name, dtype: dtypeName) }
            let shape = try shapeAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else { throw CheckpointError.malformed(path: path, what: "tensor \(name) has a bad shape") }
                return n
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else { throw CheckpointError.malformed(path: path, what: "tensor \(name) has bad data_offsets") }
                return n
            }
            let expected = shape.reduce(1, *) * type.bytesPerBlock
            guard offsets[1] >= offsets[0], offsets[1] - offsets[0] == expected else {
                throw CheckpointError.malformed(path: path, what: "tensor \(name) spans \(offsets[1] - offsets[0]) bytes but \(dtypeName)\(shape) needs \(expected)")
            }
            guard dataStart + offsets[1] <= file.count else {
                throw CheckpointError.truncated(path: path, what: "tensor \(name) ends at byte \(dataStart + offsets[1]) past the end (\(file.count) bytes)")
            }
            infos[name] = TensorInfo(name: name, type: type, shape: shape, offset: dataStart + offsets[0], byteCount: expected)
        }
        self.tensorInfos = infos
        self.metadata = metadata
    }
}
