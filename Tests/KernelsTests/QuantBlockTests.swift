// Block layouts match GGUF byte for byte, and reference dequantization of hand-built blocks gives
// the values ggml's dequantize_row_* defines.
import CKernels
import XCTest
@testable import Kernels

final class QuantBlockTests: XCTestCase {
    func testBlockStructsHaveGGUFSizes() {
        XCTAssertEqual(MemoryLayout<hayai_block_q8_0>.size, GGMLType.q8_0.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q8_1>.size, GGMLType.q8_1.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q4_0>.size, GGMLType.q4_0.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q4_1>.size, GGMLType.q4_1.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q5_0>.size, GGMLType.q5_0.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q5_1>.size, GGMLType.q5_1.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q2_K>.size, GGMLType.q2_K.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q4_K>.size, GGMLType.q4_K.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q5_K>.size, GGMLType.q5_K.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q6_K>.size, GGMLType.q6_K.bytesPerBlock)
        XCTAssertEqual(MemoryLayout<hayai_block_q8_K>.size, GGMLType.q8_K.bytesPerBlock)
        // Field offsets the Swift reference code reads by hand.
        XCTAssertEqual(MemoryLayout<hayai_block_q5_0>.offset(of: \.qs), 6)
        XCTAssertEqual(MemoryLayout<hayai_block_q5_1>.offset(of: \.qs), 8)
        XCTAssertEqual(MemoryLayout<hayai_block_q5_K>.offset(of: \.qs), 48)
        XCTAssertEqual(MemoryLayout<hayai_block_q6_K>.offset(of: \.d), 208)
        XCTAssertEqual(MemoryLayout<hayai_block_q2_K>.offset(of: \.d), 80)
        XCTAssertEqual(MemoryLayout<hayai_block_q8_K>.offset(of: \.bsums), 260)
    }

    func testQ8_0DequantizesScaleTimesCode() throws {
        let (lo, hi) = f16Bits(0.5)
        var codes = [Int8](repeating: 0, count: 32)
        for j in 0..<32 { codes[j] = Int8(j == 31 ? 127 : j * 8 - 127) }
        let block = [lo, hi] + codes.map { UInt8(bitPattern: $0) }
        let x = try dequantized(.q8_0, block, count: 32)
        XCTAssertEqual(x[0], -63.5)
        XCTAssertEqual(x[1], -59.5)   // 0.5 * (8 - 127)
        XCTAssertEqual(x[31], 63.5)
    }

    func testQ4_0LowNibblesComeFirst() throws {
        let (lo, hi) = f16Bits(2)
        let qs: [UInt8] = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let x = try dequantized(.q4_0, [lo, hi] + qs, count: 32)
        XCTAssertEqual(x[0], -16)   // 2 * (0 - 8)
        XCTAssertEqual(x[15], 14)   // 2 * (15 - 8)
        XCTAssertEqual(x[16], 14)   // high nibble of qs[0] = 15
        XCTAssertEqual(x[31], -16)
    }

    func testQ4_1AddsTheMinimum() throws {
        let (dl, dh) = f16Bits(0.25), (ml, mh) = f16Bits(-1)
        let x = try dequantized(.q4_1, [dl, dh, ml, mh] + [UInt8](repeating: 0xF3, count: 16), count: 32)
        XCTAssertEqual(x[0], -0.25)  // 0.25 * 3 - 1
        XCTAssertEqual(x[16], 2.75)  // 0.25 * 15 - 1
    }

    func testQ5_0FifthBitComesFromQh() throws {
        let (dl, dh) = f16Bits(1)
        // qh bit j set for j = 0 and j = 17; all nibbles 0x1 (low) / 0x2 (high).
        let qh: UInt32 = 1 | 1 << 17
        let qhBytes = (0..<4).map { UInt8(truncatingIfNeeded: qh >> (8 * $0)) }
        let x = try dequantized(.q5_0, [dl, dh] + qhBytes + [UInt8](repeating: 0x21, count: 16), count: 32)
        XCTAssertEqual(x[0], 1)      // (1 | 16) - 16
        XCTAssertEqual(x[1], -15)    // 1 - 16
        XCTAssertEqual(x[16], -14)   // 2 - 16
        XCTAssertEqual(x[17], 2)     // (2 | 16) - 16
    }

    func testQ5_1FifthBitAndMinimum() throws {
        let (dl, dh) = f16Bits(0.5), (ml, mh) = f16Bits(2)
        let qhBytes: [UInt8] = [0, 0, 0, 0x80]  // bit 31: element 31
        let x = try dequantized(.q5_1, [dl, dh, ml, mh] + qhBytes + [UInt8](repeating: 0xF0, count: 16), count: 32)
        XCTAssertEqual(x[0], 2)      // 0.5 * 0 + 2
        XCTAssertEqual(x[16], 9.5)   // 0.5 * 15 + 2
        XCTAssertEqual(x[31], 17.5)  // 0.5 * 31 + 2
    }

    /// Scale bytes with known 6-bit scales and mins (worked out by hand from get_scale_min_k4).
    private let kScaleBytes: [UInt8] = [1 | 0b01 << 6, 2, 3, 4, 5, 6, 7, 8 | 0b10 << 6, 0x21, 0x43, 0x65, 0x87]
    private let kScales: [Float] = [1, 2, 3, 4, 17, 3, 5, 7]
    private let kMins: [Float] = [5, 6, 7, 8, 2, 4, 6, 40]

    func testScaleMinK4UnpacksSixBitValues() {
        kScaleBytes.withUnsafeBufferPointer { q in
            for j in 0..<8 {
                let (s, m) = scaleMinK4(j, q.baseAddress!)
                XCTAssertEqual(Float(s), kScales[j], "scale \(j)")
                XCTAssertEqual(Float(m), kMins[j], "min \(j)")
            }
        }
    }

    func testQ4_KSubBlocksUseTheirScaleAndMin() throws {
        let (dl, dh) = f16Bits(1), (ml, mh) = f16Bits(0.5)
        let block = [dl, dh, ml, mh] + kScaleBytes + [UInt8](repeating: 0x31, count: 128)
        let x = try dequantized(.q4_K, block, count: 256)
        for i in 0..<256 {
            let j = i / 32
            let q: Float = j % 2 == 0 ? 1 : 3
            XCTAssertEqual(x[i], kScales[j] * q - 0.5 * kMins[j], "element \(i)")
        }
    }

    func testQ5_KHighBitsAddSixteen() throws {
        let (dl, dh) = f16Bits(1), (ml, mh) = f16Bits(0.5)
        // qh[l] = 0b0000_0110: sub-block 1 (bit 1) and 2 (bit 2) get +16 for every l.
        let block = [dl, dh, ml, mh] + kScaleBytes + [UInt8](repeating: 0x06, count: 32) + [UInt8](repeating: 0x31, count: 128)
        let x = try dequantized(.q5_K, block, count: 256)
        for i in 0..<256 {
            let j = i / 32
            var q: Float = j % 2 == 0 ? 1 : 3
            if j == 1 || j == 2 { q += 16 }
            XCTAssertEqual(x[i], kScales[j] * q - 0.5 * kMins[j], "element \(i)")
        }
    }

    func testQ6_KInterleavesNibblesAndHighBits() throws {
        var block = [UInt8](repeating: 0, count: 210)
        // First 128 elements: ql[0] = 0x21 -> element 0 low 1, element 64 low 2;
        // qh[0] = 0b11_10_01_00 -> high bits 0 (el 0), 1 (el 32), 2 (el 64), 3 (el 96).
        block[0] = 0x21
        block[32] = 0x43  // element 32 low 3, element 96 low 4
        block[128] = 0b1110_0100
        for s in 0..<16 { block[192 + s] = UInt8(bitPattern: Int8(s - 8)) }
        let (dl, dh) = f16Bits(0.5)
        block[208] = dl; block[209] = dh
        let x = try dequantized(.q6_K, block, count: 256)
        func expect(_ i: Int, code: Int) { XCTAssertEqual(x[i], 0.5 * Float((i / 16) - 8) * Float(code - 32), "element \(i)") }
        expect(0, code: 1)
        expect(32, code: 3 | 16)
        expect(64, code: 2 | 32)
        expect(96, code: 4 | 48)
        expect(1, code: 0)
        expect(200, code: 0)
    }

    func testQ8_KIsFloatScaleTimesCode() throws {
        var block = [UInt8](repeating: 0, count: 292)
        withUnsafeBytes(of: Float(0.125)) { for i in 0..<4 { block[i] = $0[i] } }
        block[4] = UInt8(bitPattern: -100)
        block[4 + 255] = 8
        let x = try dequantized(.q8_K, block, count: 256)
        XCTAssertEqual(x[0], -12.5)
        XCTAssertEqual(x[255], 1)
        XCTAssertEqual(x[1], 0)
    }

    func testPartialBlocksAreRejected() {
        XCTAssertThrowsError(try quantized(.q4_0, [Float](repeating: 1, count: 33)))
        XCTAssertThrowsError(try dequantized(.q6_K, [UInt8](repeating: 0, count: 210), count: 200))
    }
}
