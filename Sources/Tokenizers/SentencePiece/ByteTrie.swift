// A trie over UTF-8 bytes mapping strings to ids: the piece lattice of the unigram encoder and the
// longest-match of user-defined symbols. Children live in one hash table keyed by (node, byte).

struct ByteTrie {
    private var children: [Int64: Int32] = [:]
    /// The id stored at each node, or -1.
    private var values: [Int32] = [-1]

    init() {}

    init(_ entries: [(String, Int)]) {
        for (key, value) in entries { insert(Array(key.utf8), value: value) }
    }

    var isEmpty: Bool { values.count == 1 }

    mutating func insert(_ key: [UInt8], value: Int) {
        var node: Int32 = 0
        for b in key {
            let edge = Int64(node) << 8 | Int64(b)
            if let child = children[edge] { node = child; continue }
            values.append(-1)
            let child = Int32(values.count - 1)
            children[edge] = child
            node = child
        }
        if values[Int(node)] < 0 { values[Int(node)] = Int32(value) }
    }

    /// Calls `body(end, id)` for every key that is a prefix of `bytes[start...]`, shortest first.
    @inline(__always)
    func forEachPrefix(of bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int) -> Void) {
        var node: Int32 = 0
        var i = start
        while i < bytes.count, let child = children[Int64(node) << 8 | Int64(bytes[i])] {
            node = child
            i += 1
            let v = values[Int(node)]
            if v >= 0 { body(i, Int(v)) }
        }
    }

    /// The end of the longest key that is a prefix of `bytes[start...]`, or nil.
    func longestPrefix(of bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var longest: Int? = nil
        forEachPrefix(of: bytes, from: start) { end, _ in longest = end }
        return longest
    }
}
