// Finds NaN and ±infinity in stored weights, so a checkpoint holding them is refused at load with the
// tensor named instead of producing `null` logits. Float tensors are scanned whole; quantized blocks
// hold integers plus a few Float16 (or Float32) scales at fixed offsets, and only those can be non-finite.
// A float is non-finite when its exponent bits are all ones: |bits| >= 0x7f800000 (f32), 0x7c00 (f16),
// 0x7f80 (bf16).

public enum FiniteScan {
    /// The index of the first non-finite element (a block's first element for quantized types), or nil.
    /// `elements` is the tensor's element count; types without float fields (integers, the IQ types but IQ4_NL
    /// and IQ4_XS) are not scanned.
    public static func firstNonFinite(_ type: GGMLType, _ data: UnsafeRawPointer, elements: Int) -> Int? {
        switch type {
        case .f32: return firstNonFiniteF32(data, count: elements)
        case .f16: return firstNonFinite16(data, count: elements, stride: 2, offsets: [0], exponent: 0x7c00)
        case .bf16: return firstNonFinite16(data, count: elements, stride: 2, offsets: [0], exponent: 0x7f80)
        case .f64:
            for i in 0..<elements where !data.loadUnaligned(fromByteOffset: 8 * i, as: Double.self).isFinite { return i }
            return nil
        default:
            guard let offsets = scaleOffsets(type) else { return nil }
            let blocks = elements / type.blockSize
            return firstNonFinite16(data, count: blocks, stride: type.bytesPerBlock, offsets: offsets, exponent: 0x7c00)
                .map { $0 * type.blockSize }
        }
    }

    /// Byte offsets of the Float16 scales inside one block (ggml's block layouts), nil for types without
    /// Float16 fields to check here.
    static func scaleOffsets(_ type: GGMLType) -> [Int]? {
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_nl: return [0]
        case .q4_1, .q5_1, .q8_1, .q4_K, .q5_K: return [0, 2]
        case .q2_K: return [80, 82]      // scales[16], qs[64], then d, dmin
        case .q3_K: return [108]         // hmask[32], qs[64], scales[12], then d
        case .q6_K: return [208]         // ql[128], qh[64], scales[16], then d
        case .iq4_xs: return [0]         // d, then scales_h, scales_l[4], qs[128]
        default: return nil
        }
    }

    /// Float32: a running maximum of |bits| over chunks (vectorizes), then a search in the chunk that has one.
    static func firstNonFiniteF32(_ data: UnsafeRawPointer, count: Int) -> Int? {
        let chunk = 4096
        var start = 0
        while start < count {
            let end = min(start + chunk, count)
            var maxBits = SIMD8<UInt32>(repeating: 0)
            var i = start
            while i + 8 <= end {
                let v = data.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<UInt32>.self) & 0x7fff_ffff
                maxBits = pointwiseMax(maxBits, v)
                i += 8
            }
            var tail: UInt32 = 0
            while i < end { tail = max(tail, data.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self) & 0x7fff_ffff); i += 1 }
            if max(maxBits.max(), tail) >= 0x7f80_0000 {
                for j in start..<end where data.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self) & 0x7fff_ffff >= 0x7f80_0000 { return j }
            }
            start = end
        }
        return nil
    }

    /// 16-bit floats at `offsets` within records of `stride` bytes; returns the record index.
    static func firstNonFinite16(_ data: UnsafeRawPointer, count: Int, stride: Int, offsets: [Int], exponent: UInt16) -> Int? {
        var maxBits: UInt16 = 0
        let chunk = 4096
        var start = 0
        while start < count {
            let end = min(start + chunk, count)
            for r in start..<end {
                for o in offsets { maxBits = max(maxBits, data.loadUnaligned(fromByteOffset: r * stride + o, as: UInt16.self) & 0x7fff) }
            }
            if maxBits >= exponent {
                for r in start..<end {
                    for o in offsets where data.loadUnaligned(fromByteOffset: r * stride + o, as: UInt16.self) & 0x7fff >= exponent { return r }
                }
            }
            start = end
        }
        return nil
    }
}
