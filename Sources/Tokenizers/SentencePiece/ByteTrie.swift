// A trie over UTF-8 bytes mapping strings to ids: the piece lattice of the unigram encoder, the pieces
// of the BPE encoder and the longest-match of user-defined symbols. Children live in one open-addressing
// hash table keyed by (node, byte): the encoders look up one edge per input byte, and Swift's
// Dictionary (a seeded SipHash per lookup) made that the largest cost of encoding.

struct ByteTrie {
    /// Edge keys (node << 8 | byte), -1 for an empty slot; `childIDs` at the same slot.
    private var keys: [Int64] = Array(repeating: -1, count: 16)
    private var childIDs: [Int32] = Array(repeating: 0, count: 16)
    private var edges = 0
    /// The id stored at each node, or -1.
    private var values: [Int32] = [-1]

    init() {}

    init(_ entries: [(String, Int)]) {
        for (key, value) in entries { insert(Array(key.utf8), value: value) }
    }

    var isEmpty: Bool { values.count == 1 }

    @inline(__always) private static func slot(_ key: Int64, mask: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> 29) & mask
    }

    @inline(__always) private func child(_ node: Int32, _ byte: UInt8) -> Int32? {
        let key = Int64(node) << 8 | Int64(byte), mask = keys.count - 1
        var s = Self.slot(key, mask: mask)
        while true {
            let k = keys[s]
            if k == key { return childIDs[s] }
            if k < 0 { return nil }
            s = (s + 1) & mask
        }
    }

    private mutating func addEdge(_ key: Int64, _ child: Int32) {
        if (edges + 1) * 2 > keys.count {  // keep the load at most one half
            let oldKeys = keys, oldChildren = childIDs
            keys = Array(repeating: -1, count: oldKeys.count * 2)
            childIDs = Array(repeating: 0, count: oldKeys.count * 2)
            edges = 0
            for (k, c) in zip(oldKeys, oldChildren) where k >= 0 { addEdge(k, c) }
        }
        let mask = keys.count - 1
        var s = Self.slot(key, mask: mask)
        while keys[s] >= 0 { s = (s + 1) & mask }
        keys[s] = key
        childIDs[s] = child
        edges += 1
    }

    mutating func insert(_ key: [UInt8], value: Int) {
        var node: Int32 = 0
        for b in key {
            if let child = child(node, b) { node = child; continue }
            values.append(-1)
            let child = Int32(values.count - 1)
            addEdge(Int64(node) << 8 | Int64(b), child)
            node = child
        }
        if values[Int(node)] < 0 { values[Int(node)] = Int32(value) }
    }

    /// Calls `body(end, id)` for every key that is a prefix of `bytes[start...]`, shortest first.
    @inline(__always)
    func forEachPrefix(of bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int) -> Void) {
        var node: Int32 = 0
        var i = start
        while i < bytes.count, let child = child(node, bytes[i]) {
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

    /// The id of the key that is exactly `bytes[start..<start + count]`, or nil.
    func value(of bytes: UnsafeBufferPointer<UInt8>, from start: Int, count: Int) -> Int? {
        var node: Int32 = 0
        for i in start..<start + count {
            guard let c = child(node, bytes[i]) else { return nil }
            node = c
        }
        let v = values[Int(node)]
        return v >= 0 ? Int(v) : nil
    }
}
