// A reader for NumPy's .npy format (version 1/2/3, little-endian float32, C order), enough for the
// golden logits that peer implementations wrote.
import Foundation

public struct NpyArray {
    public var shape: [Int]
    public var values: [Float]

    public init(url: URL) throws {
        let data = try Data(contentsOf: url)
        struct Bad: Error, CustomStringConvertible { let description: String }
        guard data.count > 10, data.prefix(6) == Data([0x93]) + Data("NUMPY".utf8) else { throw Bad(description: "\(url.path): not an .npy file") }
        let major = data[6]
        let headerLength: Int, headerStart: Int
        if major == 1 {
            headerLength = Int(data[8]) | Int(data[9]) << 8; headerStart = 10
        } else {
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24; headerStart = 12
        }
        let header = String(decoding: data[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard header.contains("'descr': '<f4'"), header.contains("'fortran_order': False") else {
            throw Bad(description: "\(url.path): only little-endian float32 C-order arrays are supported: \(header)")
        }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw Bad(description: "\(url.path): no shape in header")
        }
        shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = data[(headerStart + headerLength)...]
        guard body.count == count * 4 else { throw Bad(description: "\(url.path): expected \(count) floats, found \(body.count) bytes") }
        values = body.withUnsafeBytes { raw in (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}
