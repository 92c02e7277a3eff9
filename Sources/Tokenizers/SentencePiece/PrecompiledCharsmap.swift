// SentencePiece's precompiled normalization rules (nmt_nfkc, nfkc, ...): a Darts-clone double-array
// trie from UTF-8 prefixes to offsets in a block of NUL-terminated replacement strings. Layout
// (normalizer.cc): <trie size: u32 little-endian><trie units: u32 each><replacements>.

struct PrecompiledCharsmap {
    private let units: [UInt32]
    /// The NUL-terminated replacement strings; lookups hand out slices of them without copying,
    /// valid while this charsmap lives.
    private let storage: ReplacementStorage
    private var replacements: UnsafeBufferPointer<UInt8> { storage.bytes }

    private final class ReplacementStorage: @unchecked Sendable {
        let bytes: UnsafeBufferPointer<UInt8>
        init(_ source: ArraySlice<UInt8>) {
            let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: source.count)
            _ = b.initialize(from: source)
            bytes = UnsafeBufferPointer(b)
        }
        deinit { bytes.deallocate() }
    }

    struct Malformed: Error { var reason: String }

    init(_ blob: [UInt8]) throws {
        guard blob.count > 4 else { throw Malformed(reason: "precompiled_charsmap of \(blob.count) bytes") }
        let trieSize = Int(blob[0]) | Int(blob[1]) << 8 | Int(blob[2]) << 16 | Int(blob[3]) << 24
        guard trieSize >= 1024, trieSize & 0x3FF == 0, 4 + trieSize <= blob.count else {
            throw Malformed(reason: "precompiled_charsmap trie size \(trieSize) does not fit its \(blob.count) bytes")
        }
        units = stride(from: 4, to: 4 + trieSize, by: 4).map { i in
            UInt32(blob[i]) | UInt32(blob[i + 1]) << 8 | UInt32(blob[i + 2]) << 16 | UInt32(blob[i + 3]) << 24
        }
        storage = ReplacementStorage(blob[(4 + trieSize)...])
    }

    // Darts-clone unit fields.
    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & 0x7FFF_FFFF) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & (0x8000_0000 | 0xFF) }
    @inline(__always) private static func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// The replacement for the longest rule matching at `bytes[start...]`, and how many bytes it covers
    /// (sentencepiece's normalizer); `shortest` takes the shortest instead (Hugging Face tokenizers'
    /// Precompiled normalizer takes the first result of the common-prefix search).
    func longestMatch(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int,
                      shortest: Bool = false) -> (replacement: UnsafeBufferPointer<UInt8>.SubSequence, length: Int)? {
        var nodePos = 0
        guard !units.isEmpty else { return nil }
        nodePos ^= Self.offset(units[0])
        var best: (value: Int, length: Int)? = nil
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            nodePos ^= Int(b)
            guard nodePos < units.count else { break }
            let unit = units[nodePos]
            if Self.label(unit) != UInt32(b) { break }
            nodePos ^= Self.offset(unit)
            guard nodePos < units.count else { break }
            if Self.hasLeaf(unit) {
                best = (Self.value(units[nodePos]), i + 1 - start)
                if shortest { break }
            }
            i += 1
        }
        // normalizer.cc ignores a rule whose offset is outside the replacement block.
        guard let best, best.value < replacements.count else { return nil }
        var end = best.value
        while end < replacements.count && replacements[end] != 0 { end += 1 }
        return (replacements[best.value..<end], best.length)
    }
}
