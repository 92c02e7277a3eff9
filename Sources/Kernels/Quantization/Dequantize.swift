// Scalar reference dequantization, one row at a time. These are the definitions the fast paths
// are tested against; they follow ggml's `dequantize_row_*` exactly.

@inline(__always) func readF16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

public enum DequantizeError: Error, CustomStringConvertible {
    case unsupported(GGMLType)
    case partialBlock(GGMLType, Int)
    public var description: String {
        switch self {
        case .unsupported(let t): return "tensor type \(t) cannot be dequantized yet"
        case .partialBlock(let t, let n): return "\(n) elements is not a whole number of \(t) blocks of \(t.blockSize)"
        }
    }
}

/// Dequantizes `count` elements of type `type` starting at `src` into `dst`.
public func dequantizeReference(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) throws {
    guard count % type.blockSize == 0 else { throw DequantizeError.partialBlock(type, count) }
    let blocks = count / type.blockSize
    switch type {
    case .f32:
        dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
    case .f16:
        for i in 0..<count { dst[i] = readF16(src, 2 * i) }
    case .bf16:
        for i in 0..<count {
            let bits = UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
            dst[i] = Float(bitPattern: bits)
        }
    case .q8_0:
        // block: f16 d, int8 qs[32]; x = d * q
        for b in 0..<blocks {
            let block = src + b * 34
            let d = readF16(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { dst[b * 32 + j] = d * Float(qs[j]) }
        }
    case .q4_0:
        // block: f16 d, uint8 qs[16]; low nibbles are elements 0..15, high nibbles 16..31; x = d * (q - 8)
        for b in 0..<blocks {
            let block = src + b * 18
            let d = readF16(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                dst[b * 32 + j] = d * Float(Int(qs[j] & 0x0F) - 8)
                dst[b * 32 + j + 16] = d * Float(Int(qs[j] >> 4) - 8)
            }
        }
    case .q4_1:
        // block: f16 d, f16 m, uint8 qs[16]; x = d * q + m
        for b in 0..<blocks {
            let block = src + b * 20
            let d = readF16(block, 0), m = readF16(block, 2)
            let qs = (block + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                dst[b * 32 + j] = d * Float(qs[j] & 0x0F) + m
                dst[b * 32 + j + 16] = d * Float(qs[j] >> 4) + m
            }
        }
    default:
        throw DequantizeError.unsupported(type)
    }
}
