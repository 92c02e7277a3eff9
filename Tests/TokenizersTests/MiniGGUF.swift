// Writes tiny vocabulary-only GGUF files (version 3, no tensors) for error-path tests.
import Foundation

enum MiniGGUF {
    enum Value {
        case string(String), strings([String]), ints([Int32]), uint32(UInt32)
    }

    static func write(_ entries: [(String, Value)], to url: URL) throws {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); d.append(contentsOf: Array(s.utf8)) }
        d.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(0)
        u64(UInt64(entries.count))
        for (key, value) in entries {
            str(key)
            switch value {
            case .string(let s): u32(8); str(s)
            case .uint32(let v): u32(4); u32(v)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(str)
            case .ints(let a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
            }
        }
        try d.write(to: url)
    }
}
