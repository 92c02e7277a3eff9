// Portable scalar dot products of a weight row with a quantized activation row: the fallback when
// the CPU lacks AVX2, and the definition the AVX2 kernels in CKernels/quant_dot.c are tested
// against. Same math as ggml's generic `ggml_vec_dot_*`: integer sums per block, one float
// multiply by the two scales per block.

enum QuantizedDotReference {
    @inline(__always) private static func i8(_ p: UnsafeRawPointer, _ o: Int) -> Int { Int(p.load(fromByteOffset: o, as: Int8.self)) }
    @inline(__always) private static func u8(_ p: UnsafeRawPointer, _ o: Int) -> Int { Int(p.load(fromByteOffset: o, as: UInt8.self)) }

    static func q8_0(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 34 * b, xb = x + 34 * b
            var sumi = 0
            for j in 0..<32 { sumi += i8(wb, 2 + j) * i8(xb, 2 + j) }
            sum += Float(sumi) * (readF16(wb, 0) * readF16(xb, 0))
        }
        return sum
    }

    static func q4_0(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 18 * b, xb = x + 34 * b
            var sumi = 0
            for j in 0..<16 {
                let q = u8(wb, 2 + j)
                sumi += ((q & 0xF) - 8) * i8(xb, 2 + j) + ((q >> 4) - 8) * i8(xb, 2 + j + 16)
            }
            sum += Float(sumi) * (readF16(wb, 0) * readF16(xb, 0))
        }
        return sum
    }

    static func q4_1(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 20 * b, xb = x + 36 * b
            var sumi = 0
            for j in 0..<16 {
                let q = u8(wb, 4 + j)
                sumi += (q & 0xF) * i8(xb, 4 + j) + (q >> 4) * i8(xb, 4 + j + 16)
            }
            sum += (readF16(wb, 0) * readF16(xb, 0)) * Float(sumi) + readF16(wb, 2) * readF16(xb, 2)
        }
        return sum
    }

    /// The 5-bit value of element j (0..<32) of a Q5 block: nibbles at `qs`, high bits in `qh`.
    @inline(__always) private static func q5(_ qs: UnsafeRawPointer, _ qh: UInt32, _ j: Int) -> Int {
        let nibble = j < 16 ? u8(qs, j) & 0xF : u8(qs, j - 16) >> 4
        return nibble | Int((qh >> UInt32(j)) & 1) << 4
    }

    static func q5_0(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 22 * b, xb = x + 34 * b
            let qh = wb.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            var sumi = 0
            for j in 0..<32 { sumi += (q5(wb + 6, qh, j) - 16) * i8(xb, 2 + j) }
            sum += Float(sumi) * (readF16(wb, 0) * readF16(xb, 0))
        }
        return sum
    }

    static func q5_1(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 24 * b, xb = x + 36 * b
            let qh = wb.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
            var sumi = 0
            for j in 0..<32 { sumi += q5(wb + 8, qh, j) * i8(xb, 4 + j) }
            sum += (readF16(wb, 0) * readF16(xb, 0)) * Float(sumi) + readF16(wb, 2) * readF16(xb, 2)
        }
        return sum
    }

    /// Q2_K: Σ over 16 sub-blocks of d·sc·Σ q·q8 − dmin·m·Σ q8, each sub-block's Σ q8 being one of
    /// Q8_K's bsums; both integer totals are scaled by d8 in float once per super-block, as ggml does.
    static func q2_K(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 256 {
            let wb = w + 84 * b, xb = x + 292 * b
            var sumi = 0, summ = 0
            for s in 0..<16 {
                let sc = u8(wb, s)
                summ += (sc >> 4) * Int(xb.loadUnaligned(fromByteOffset: 260 + 2 * s, as: Int16.self))
                // Sub-block s: elements 16s..16s+15, in byte qs[32·(s/8) + 16·(s%2) + l] at bits 2·((s/2)%4).
                let shift = 2 * ((s / 2) % 4), qs = 16 + 32 * (s / 8) + 16 * (s % 2)
                var isum = 0
                for l in 0..<16 { isum += ((u8(wb, qs + l) >> shift) & 3) * i8(xb, 4 + 16 * s + l) }
                sumi += (sc & 0xF) * isum
            }
            let d8 = xb.loadUnaligned(as: Float.self)
            sum += d8 * readF16(wb, 80) * Float(sumi) - d8 * readF16(wb, 82) * Float(summ)
        }
        return sum
    }

    /// Q4_K and Q5_K: Σ over 8 sub-blocks of d·sc·Σ q·q8 − dmin·m·Σ q8, the last sum from Q8_K's bsums.
    private static func k4(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer, fiveBit: Bool) -> Float {
        let size = fiveBit ? 176 : 144, qsOffset = fiveBit ? 48 : 16
        var sum: Float = 0
        for b in 0..<n / 256 {
            let wb = w + size * b, xb = x + 292 * b
            let scales = (wb + 4).assumingMemoryBound(to: UInt8.self)
            var sumi = 0, summ = 0
            for j in 0..<8 {
                let (sc, m) = scaleMinK4(j, scales)
                let bsum = Int(xb.loadUnaligned(fromByteOffset: 260 + 4 * j, as: Int16.self))
                    + Int(xb.loadUnaligned(fromByteOffset: 262 + 4 * j, as: Int16.self))
                summ += Int(m) * bsum
                var s = 0
                for l in 0..<32 {
                    let byte = u8(wb, qsOffset + 32 * (j / 2) + l)
                    var q = j % 2 == 0 ? byte & 0xF : byte >> 4
                    if fiveBit && (u8(wb, 16 + l) >> j) & 1 != 0 { q += 16 }
                    s += q * i8(xb, 4 + 32 * j + l)
                }
                sumi += Int(sc) * s
            }
            let d8 = xb.loadUnaligned(as: Float.self)
            sum += d8 * readF16(wb, 0) * Float(sumi) - d8 * readF16(wb, 2) * Float(summ)
        }
        return sum
    }

    static func q4_K(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float { k4(n, w, x, fiveBit: false) }
    static func q5_K(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float { k4(n, w, x, fiveBit: true) }

    /// Q3_K: per sub-block of 16 the integer Σ q·q8 (q in −4..3) times the sub-block's scale − 32, summed
    /// over the super-block in integers, then one float multiply by d·d8 (ggml_vec_dot_q3_K_q8_K).
    static func q3_K(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 256 {
            let wb = w + 110 * b, xb = x + 292 * b
            let scales = (wb + 96).assumingMemoryBound(to: UInt8.self)
            var sumi = 0
            for j in 0..<16 {
                var s = 0
                for e in 16 * j..<16 * j + 16 {
                    let k = e / 32, l = e % 32
                    let low = (u8(wb, 32 + 32 * (k / 4) + l) >> (2 * (k % 4))) & 3
                    let q = low - ((u8(wb, l) >> k) & 1 != 0 ? 0 : 4)
                    s += q * i8(xb, 4 + e)
                }
                sumi += (scaleQ3K(j, scales) - 32) * s
            }
            sum += xb.loadUnaligned(as: Float.self) * readF16(wb, 108) * Float(sumi)
        }
        return sum
    }

    /// IQ4_NL · Q8_0: per block the integer Σ table[q]·x, times d·d8.
    static func iq4_nl(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 32 {
            let wb = w + 18 * b, xb = x + 34 * b
            var sumi = 0
            for j in 0..<16 {
                let q = UInt8(u8(wb, 2 + j))
                sumi += iq4nlValue(q) * i8(xb, 2 + j) + iq4nlValue(q >> 4) * i8(xb, 2 + j + 16)
            }
            sum += Float(sumi) * (readF16(wb, 0) * readF16(xb, 0))
        }
        return sum
    }

    /// IQ4_XS · Q8_K: per super-block the integer Σ over sub-blocks of (ls − 32)·Σ table[q]·x, times d·d8.
    static func iq4_xs(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 256 {
            let wb = w + 136 * b, xb = x + 292 * b
            var sumi = 0
            for ib in 0..<8 {
                var s = 0
                for j in 0..<16 {
                    let q = UInt8(u8(wb, 8 + 16 * ib + j))
                    s += iq4nlValue(q) * i8(xb, 4 + 32 * ib + j) + iq4nlValue(q >> 4) * i8(xb, 4 + 32 * ib + 16 + j)
                }
                sumi += (iq4xsScale(wb, ib) - 32) * s
            }
            sum += (readF16(wb, 0) * xb.loadUnaligned(as: Float.self)) * Float(sumi)
        }
        return sum
    }

    static func q6_K(_ n: Int, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> Float {
        var sum: Float = 0
        for b in 0..<n / 256 {
            let wb = w + 210 * b, xb = x + 292 * b
            var sumi = 0
            for half in 0..<2 {
                let ql = (wb + 64 * half).assumingMemoryBound(to: UInt8.self)
                let qh = (wb + 128 + 32 * half).assumingMemoryBound(to: UInt8.self)
                let q8 = (xb + 4 + 128 * half).assumingMemoryBound(to: Int8.self)
                // Quarter k of the 128 elements: low nibbles of ql[32·(k%2) + l] (k < 2) or high
                // nibbles (k ≥ 2), topped up by bits 2k, 2k+1 of qh[l]; one scale per 16 elements.
                for k in 0..<4 {
                    let low = ql + 32 * (k % 2), lowShift = UInt8(k < 2 ? 0 : 4), highShift = UInt8(2 * k)
                    for g in 0..<2 {
                        var s = 0
                        for l in 16 * g..<16 * g + 16 {
                            let q = Int(((low[l] >> lowShift) & 0xF) | (((qh[l] >> highShift) & 3) << 4)) - 32
                            s += q * Int(q8[32 * k + l])
                        }
                        sumi += i8(wb, 192 + 8 * half + 2 * k + g) * s
                    }
                }
            }
            sum += xb.loadUnaligned(as: Float.self) * readF16(wb, 208) * Float(sumi)
        }
        return sum
    }
}
