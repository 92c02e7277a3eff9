// One stored tensor: where its bytes are in a mapped file, its element type and its shape.
// Shapes are row-major in Hugging Face order ([rows, cols] for a linear weight), whatever the file.
import Kernels

public struct TensorInfo: Sendable {
    public let name: String
    public let type: GGMLType
    public let shape: [Int]
    /// Absolute byte offset of the first element in the file.
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A file that holds named tensors (safetensors or GGUF).
public protocol TensorSource: AnyObject {
    var file: MappedFile { get }
    var tensorInfos: [String: TensorInfo] { get }
}

extension TensorSource {
    public var path: String { file.path }

    public func info(_ name: String) throws -> TensorInfo {
        guard let info = tensorInfos[name] else { throw CheckpointError.missingTensor(path: file.path, name: name) }
        return info
    }

    /// A pointer to the tensor's bytes inside the map (valid while the source lives).
    public func rawData(_ info: TensorInfo) -> UnsafeRawPointer { file.base + info.offset }

    /// The tensor as Float32 values, dequantized with the scalar reference where needed.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        return try floats(info)
    }

    public func floats(_ info: TensorInfo) throws -> [Float] {
        let n = info.elementCount
        var out = [Float](repeating: 0, count: n)
        do {
            try out.withUnsafeMutableBufferPointer { try dequantizeReference(info.type, rawData(info), $0.baseAddress!, count: n) }
        } catch let e as DequantizeError {
            throw CheckpointError.unknownDType(path: file.path, tensor: info.name, dtype: "\(info.type) (\(e))")
        }
        return out
    }
}

/// elementSize × the product of `shape`, or nil when a dimension is negative or the product overflows
/// (a corrupt header must give an error, not an arithmetic trap).
func checkedByteCount(shape: [Int], elementSize: Int) -> Int? {
    var n = elementSize
    for d in shape {
        guard d >= 0 else { return nil }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow else { return nil }
        n = m
    }
    return n
}
