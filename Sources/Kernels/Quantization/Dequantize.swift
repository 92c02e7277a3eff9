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
    case .q5_0:
        // block: f16 d, uint8 qh[4], uint8 qs[16]; bit j of qh is the 5th bit of element j; x = d * (q - 16)
        for b in 0..<blocks {
            let block = src + b * 22
            let d = readF16(block, 0)
            let qh = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            let qs = (block + 6).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
                let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
                dst[b * 32 + j] = d * Float(Int((qs[j] & 0x0F) | h0) - 16)
                dst[b * 32 + j + 16] = d * Float(Int((qs[j] >> 4) | h1) - 16)
            }
        }
    case .q5_1:
        // block: f16 d, f16 m, uint8 qh[4], uint8 qs[16]; x = d * q + m
        for b in 0..<blocks {
            let block = src + b * 24
            let d = readF16(block, 0), m = readF16(block, 2)
            let qh = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let h0 = UInt8(truncatingIfNeeded: (qh >> UInt32(j)) << 4) & 0x10
                let h1 = UInt8(truncatingIfNeeded: qh >> UInt32(j + 12)) & 0x10
                dst[b * 32 + j] = d * Float((qs[j] & 0x0F) | h0) + m
                dst[b * 32 + j + 16] = d * Float((qs[j] >> 4) | h1) + m
            }
        }
    case .q8_1:
        // block: f16 d, f16 s (= d * Σq, used only by dot products), int8 qs[32]; x = d * q
        for b in 0..<blocks {
            let block = src + b * 36
            let d = readF16(block, 0)
            let qs = (block + 4).assumingMemoryBound(to: Int8.self)
            for j in 0..<32 { dst[b * 32 + j] = d * Float(qs[j]) }
        }
    case .q2_K:
        // block: 16 bytes scales (per 16 elements: low nibble scale, high nibble min), 64 bytes of
        // 2-bit quants, f16 d, f16 dmin. Per 128 elements: bits 2j..2j+1 of qs[l] are element 32j + l
        // (l < 32). x = d·sc·q − dmin·m.
        for b in 0..<blocks {
            let block = src + b * 84
            let d = readF16(block, 80), dmin = readF16(block, 82)
            let scales = block.assumingMemoryBound(to: UInt8.self)
            var out = dst + b * 256
            for half in 0..<2 {
                let qs = (block + 16 + 32 * half).assumingMemoryBound(to: UInt8.self)
                for j in 0..<4 {
                    let shift = UInt8(2 * j)
                    for g in 0..<2 {
                        let sc = scales[8 * half + 2 * j + g]
                        let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                        for l in 16 * g..<16 * g + 16 { out[l] = dl * Float((qs[l] >> shift) & 3) - ml }
                    }
                    out += 32
                }
            }
        }
    case .q3_K:
        // block: hmask[32], qs[64], 12 bytes of 6-bit scales, f16 d. Element 32k + l (k < 8, l < 32) has
        // its 2 low bits at bit 2(k%4) of qs[32(k/4) + l] and its 3rd bit at bit k of hmask[l]; q is
        // the 2 bits, minus 4 where the 3rd bit is clear. Sub-block j (16 elements): x = d·(sc_j − 32)·q.
        for b in 0..<blocks {
            let block = src + b * 110
            let d = readF16(block, 108)
            let hmask = block.assumingMemoryBound(to: UInt8.self)
            let qs = (block + 32).assumingMemoryBound(to: UInt8.self)
            let scales = (block + 96).assumingMemoryBound(to: UInt8.self)
            let out = dst + b * 256
            for j in 0..<16 {
                let dl = d * Float(scaleQ3K(j, scales) - 32)
                for e in 16 * j..<16 * j + 16 {
                    let k = e / 32, l = e % 32
                    let low = Int((qs[32 * (k / 4) + l] >> UInt8(2 * (k % 4))) & 3)
                    out[e] = dl * Float(low - ((hmask[l] >> UInt8(k)) & 1 != 0 ? 0 : 4))
                }
            }
        }
    case .q4_K:
        // block: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes nibbles. Each 64 elements
        // take 32 bytes: low nibbles are sub-block 2i, high nibbles 2i+1; x = d*sc*q - dmin*m.
        for b in 0..<blocks {
            let block = src + b * 144
            let d = readF16(block, 0), dmin = readF16(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
            var out = dst + b * 256
            for i in 0..<4 {
                let (s0, m0) = scaleMinK4(2 * i, scales), (s1, m1) = scaleMinK4(2 * i + 1, scales)
                let d1 = d * Float(s0), mm1 = dmin * Float(m0), d2 = d * Float(s1), mm2 = dmin * Float(m1)
                let q = qs + 32 * i
                for l in 0..<32 { out[l] = d1 * Float(q[l] & 0xF) - mm1 }
                for l in 0..<32 { out[32 + l] = d2 * Float(q[l] >> 4) - mm2 }
                out += 64
            }
        }
    case .q5_K:
        // block: f16 d, f16 dmin, 12 bytes scales/mins, 32 bytes qh, 128 bytes nibbles. Like Q4_K; bit
        // 2i (low nibbles) and 2i+1 (high nibbles) of qh[l] add 16.
        for b in 0..<blocks {
            let block = src + b * 176
            let d = readF16(block, 0), dmin = readF16(block, 2)
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
            var out = dst + b * 256
            for i in 0..<4 {
                let (s0, m0) = scaleMinK4(2 * i, scales), (s1, m1) = scaleMinK4(2 * i + 1, scales)
                let d1 = d * Float(s0), mm1 = dmin * Float(m0), d2 = d * Float(s1), mm2 = dmin * Float(m1)
                let u1 = UInt8(1) << UInt8(2 * i), u2 = UInt8(2) << UInt8(2 * i)
                let q = qs + 32 * i
                for l in 0..<32 { out[l] = d1 * Float(Int(q[l] & 0xF) + (qh[l] & u1 != 0 ? 16 : 0)) - mm1 }
                for l in 0..<32 { out[32 + l] = d2 * Float(Int(q[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - mm2 }
                out += 64
            }
        }
    case .q6_K:
        // block: 128 bytes low nibbles ql, 64 bytes high 2-bit pairs qh, 16 int8 scales, f16 d.
        // Per 128 elements: ql[l] low/high nibbles are l and l+64, ql[l+32] are l+32 and l+96;
        // qh[l] bits 0-1, 2-3, 4-5, 6-7 top up l, l+32, l+64, l+96. x = d * scale * (q - 32).
        for b in 0..<blocks {
            let block = src + b * 210
            let d = readF16(block, 208)
            var ql = block.assumingMemoryBound(to: UInt8.self)
            var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (block + 192).assumingMemoryBound(to: Int8.self)
            var out = dst + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let s = l / 16
                    let q1 = Int((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32
                    let q2 = Int((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32
                    let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32
                    let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32
                    out[l] = d * Float(sc[s]) * Float(q1)
                    out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                    out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                    out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                }
                out += 128; ql += 64; qh += 32; sc += 8
            }
        }
    case .iq4_nl:
        // block: f16 d, uint8 qs[16]; low nibbles are elements 0..15, high nibbles 16..31, each a code
        // into the non-linear table (IQ4Support.swift); x = d * table[q]
        for b in 0..<blocks {
            let block = src + b * 18
            let d = readF16(block, 0)
            let qs = (block + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                dst[b * 32 + j] = d * Float(iq4nlValue(qs[j]))
                dst[b * 32 + j + 16] = d * Float(iq4nlValue(qs[j] >> 4))
            }
        }
    case .iq4_xs:
        // block: f16 d, u16 scales_h, uint8 scales_l[4], uint8 qs[128]; sub-block ib (32 elements) has the
        // 6-bit scale ls (iq4xsScale) and its 16 qs bytes laid out as IQ4_NL's; x = (d * (ls - 32)) * table[q]
        for b in 0..<blocks {
            let block = src + b * 136
            let d = readF16(block, 0)
            let qs = (block + 8).assumingMemoryBound(to: UInt8.self)
            let out = dst + b * 256
            for ib in 0..<8 {
                let dl = d * Float(iq4xsScale(block, ib) - 32)
                for j in 0..<16 {
                    out[32 * ib + j] = dl * Float(iq4nlValue(qs[16 * ib + j]))
                    out[32 * ib + j + 16] = dl * Float(iq4nlValue(qs[16 * ib + j] >> 4))
                }
            }
        }
    case .q8_K:
        // block: f32 d, int8 qs[256], int16 bsums[16] (sums of 16 quants, used only by dot products)
        for b in 0..<blocks {
            let block = src + b * 292
            let d = block.loadUnaligned(as: Float.self)
            let qs = (block + 4).assumingMemoryBound(to: Int8.self)
            for j in 0..<256 { dst[b * 256 + j] = d * Float(qs[j]) }
        }
    default:
        throw DequantizeError.unsupported(type)
    }
}
