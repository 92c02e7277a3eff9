// The key/value cache of one sequence: for every layer, the rotated keys and the values of every
// position processed so far, (contextLength, kvDim) row-major each, allocated once per session.
// Rows are stored as F32, F16 or Q8_0 (blocks of 32 along the row, as llama.cpp's -ctk/-ctv q8_0).
import Foundation
import Kernels

public final class KVCache {
    public let layers: Int
    public let contextLength: Int
    public let kvDim: Int
    /// How rows are stored.
    public let storage: KVStorage
    /// Bytes between consecutive positions' rows.
    public let rowBytes: Int
    /// Positions filled (the next token goes at `count`).
    public internal(set) var count = 0
    let keys: [UnsafeMutableRawPointer]
    let values: [UnsafeMutableRawPointer]
    /// The memory: zero pages the kernel hands out on first write, so a session with a 4,096-token
    /// context does not spend seconds clearing a cache it fills a token at a time.
    private let buffers: [AlignedBytes]

    /// Q8_0 needs kvDim to be a whole number of 32-element blocks; otherwise the cache falls back
    /// to F16 (check `storage`).
    public init(layers: Int, contextLength: Int, kvDim: Int, storage: KVStorage = .f32) {
        self.layers = layers
        self.contextLength = contextLength
        self.kvDim = kvDim
        let s = storage.rowBytes(kvDim) == nil ? KVStorage.f16 : storage
        self.storage = s
        self.rowBytes = s.rowBytes(kvDim)!
        let n = contextLength * rowBytes
        buffers = (0..<2 * layers).map { _ in AlignedBytes(count: n, zeroed: true) }
        keys = buffers[..<layers].map(\.pointer)
        values = buffers[layers...].map(\.pointer)
    }

    /// Bytes held by the cache.
    public var byteCount: Int { 2 * layers * contextLength * rowBytes }

    /// Bytes of keys and values read by one token's attention over `positions` cached positions.
    public func bytesRead(positions: Int) -> Int { 2 * layers * positions * rowBytes }

    /// Forgets everything after the first `n` positions (n ≤ count), e.g. to rewind a conversation.
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= count, "truncate(to: \(n)) outside 0...\(count)")
        count = n
    }

    public func reset() { count = 0 }

    /// Writes t rows of keys and values, (t, kvDim) each, into layer l's slots start..<start+t in the cache's storage
    /// type (`count` is the caller's to move); a prompt's rows in pieces over `pool` (each row is converted on its own).
    func store(layer l: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows t: Int, at start: Int, pool: ThreadPool? = nil) {
        let storage = self.storage, kvDim = self.kvDim, rowBytes = self.rowBytes, keys = self.keys[l], values = self.values[l]
        let rowsPerPiece = 32, pieces = (t + rowsPerPiece - 1) / rowsPerPiece
        let body = { (p: Int) in
            for r in p * rowsPerPiece..<min(t, (p + 1) * rowsPerPiece) {
                storage.store(k + r * kvDim, elements: kvDim, into: keys + (start + r) * rowBytes)
                storage.store(v + r * kvDim, elements: kvDim, into: values + (start + r) * rowBytes)
            }
        }
        if let pool, pieces > 1 { pool.parallelFor(count: pieces, body: body) } else { for p in 0..<pieces { body(p) } }
    }
}
