// FiniteScan finds NaN and infinity wherever they sit (vector body, tail, a later chunk) in Float32,
// Float16 and BFloat16 tensors and in the scales of quantized blocks, and nothing in finite data.
import XCTest
@testable import Kernels

final class FiniteScanTests: XCTestCase {
    func testFloat32AtEveryKindOfPosition() {
        for count in [1, 7, 8, 9, 4095, 4096, 4097, 10_003] {
            var values = (0..<count).map { Float($0 % 13) - 6.5 }
            values.withUnsafeBytes { XCTAssertNil(FiniteScan.firstNonFinite(.f32, $0.baseAddress!, elements: count)) }
            for position in Set([0, count / 2, count - 1]) {
                for bad in [Float.nan, .infinity, -.infinity, Float(bitPattern: 0xffc0_0001)] {
                    let saved = values[position]
                    values[position] = bad
                    values.withUnsafeBytes { XCTAssertEqual(FiniteScan.firstNonFinite(.f32, $0.baseAddress!, elements: count), position, "\(count) \(position) \(bad)") }
                    values[position] = saved
                }
            }
        }
        // The largest finite float is finite.
        [Float.greatestFiniteMagnitude, -.greatestFiniteMagnitude].withUnsafeBytes { XCTAssertNil(FiniteScan.firstNonFinite(.f32, $0.baseAddress!, elements: 2)) }
    }

    func testHalfAndBFloat16() {
        var half: [UInt16] = [0x3c00, 0x7bff, 0xfbff, 0x0001]   // 1, the largest finite, its negative, a subnormal
        half.withUnsafeBytes { XCTAssertNil(FiniteScan.firstNonFinite(.f16, $0.baseAddress!, elements: 4)) }
        half[2] = 0x7c00
        half.withUnsafeBytes { XCTAssertEqual(FiniteScan.firstNonFinite(.f16, $0.baseAddress!, elements: 4), 2) }
        var bf: [UInt16] = [0x3f80, 0x7f7f, 0xff7f]
        bf.withUnsafeBytes { XCTAssertNil(FiniteScan.firstNonFinite(.bf16, $0.baseAddress!, elements: 3)) }
        bf[1] = 0x7fc0
        bf.withUnsafeBytes { XCTAssertEqual(FiniteScan.firstNonFinite(.bf16, $0.baseAddress!, elements: 3), 1) }
    }

    /// Blocks of `type` whose bytes are all 0x11 (finite scales), with a NaN written at `offset` of block `block`.
    func blocks(_ type: GGMLType, count: Int, nanAt block: Int?, offset: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0x11, count: count * type.bytesPerBlock)
        if let block { bytes[block * type.bytesPerBlock + offset] = 0x00; bytes[block * type.bytesPerBlock + offset + 1] = 0x7e }
        return bytes
    }

    func testQuantizedBlockScales() {
        let cases: [(GGMLType, Int)] = [(.q4_0, 0), (.q4_1, 2), (.q5_0, 0), (.q5_1, 2), (.q8_0, 0), (.q4_K, 0), (.q4_K, 2),
                                        (.q5_K, 2), (.q6_K, 208), (.q2_K, 80), (.q2_K, 82), (.q3_K, 108),
                                        (.iq4_nl, 0), (.iq4_xs, 0)]
        for (type, offset) in cases {
            let n = 5000 * type.blockSize
            blocks(type, count: 5000, nanAt: nil, offset: offset).withUnsafeBytes {
                XCTAssertNil(FiniteScan.firstNonFinite(type, $0.baseAddress!, elements: n), "\(type)")
            }
            blocks(type, count: 5000, nanAt: 4321, offset: offset).withUnsafeBytes {
                XCTAssertEqual(FiniteScan.firstNonFinite(type, $0.baseAddress!, elements: n), 4321 * type.blockSize, "\(type) at \(offset)")
            }
        }
        // Quantized payload bytes are integers: 0x7e00 among them is not a NaN.
        blocks(.q8_0, count: 4, nanAt: 1, offset: 10).withUnsafeBytes {
            XCTAssertNil(FiniteScan.firstNonFinite(.q8_0, $0.baseAddress!, elements: 4 * 32))
        }
    }
}

/// Activations that overflowed (NaN, ±infinity) are quantized without trapping, to a NaN scale that
/// carries the NaN into the product (found by `scripts/fuzz gguf`: Int8(NaN) trapped in quantizeBlockQ8_0).
final class NonFiniteActivationTests: XCTestCase {
    func testNonFiniteActivationsGiveANaNScaleNotATrap() throws {
        // Q4_0 weights take Q8_0 activations, Q4_1 take Q8_1, Q4_K take Q8_K.
        for type in [GGMLType.q4_0, .q4_1, .q4_K] {
            let cols = 512
            let weights = [UInt8](repeating: 0x11, count: type.byteCount(elements: cols)!)
            try weights.withUnsafeBytes { raw in
                let m = try QuantizedMatrix(type: type, rows: 1, cols: cols, data: raw.baseAddress!)
                let act = m.activationType
                for bad in [Float.nan, .infinity, -.infinity] {
                    var x = (0..<cols).map { Float($0 % 7) - 3 }
                    x[300] = bad
                    var out = [UInt8](repeating: 0, count: m.activationRowBytes)
                    x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBytes { m.quantizeActivations(xs.baseAddress!, into: $0.baseAddress!) } }
                    let block = 300 / act.blockSize, size = act.bytesPerBlock
                    let scale: Float = out.withUnsafeBytes { p in
                        act == .q8_K ? p.loadUnaligned(fromByteOffset: block * size, as: Float.self)
                                     : Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: block * size, as: UInt16.self)))
                    }
                    XCTAssertTrue(scale.isNaN, "\(type) \(bad): scale \(scale)")
                    // The other blocks are quantized as before: finite scales.
                    let first: Float = out.withUnsafeBytes { p in
                        act == .q8_K ? p.loadUnaligned(as: Float.self) : Float(Float16(bitPattern: p.loadUnaligned(as: UInt16.self)))
                    }
                    if block != 0 { XCTAssertTrue(first.isFinite && first != 0, "\(type) first block scale \(first)") }
                }
            }
        }
    }
}
