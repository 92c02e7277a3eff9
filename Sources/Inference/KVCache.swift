// The key/value cache of one sequence: for every layer, the rotated keys and the values of every
// position processed so far, (contextLength, kvDim) row-major each, allocated once per session.
import Foundation

public final class KVCache {
    public let layers: Int
    public let contextLength: Int
    public let kvDim: Int
    /// Positions filled (the next token goes at `count`).
    public internal(set) var count = 0
    let keys: [UnsafeMutablePointer<Float>]
    let values: [UnsafeMutablePointer<Float>]

    public init(layers: Int, contextLength: Int, kvDim: Int) {
        self.layers = layers
        self.contextLength = contextLength
        self.kvDim = kvDim
        let n = contextLength * kvDim
        keys = (0..<layers).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
        values = (0..<layers).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
    }

    deinit {
        keys.forEach { $0.deallocate() }
        values.forEach { $0.deallocate() }
    }

    /// Bytes held by the cache.
    public var byteCount: Int { 2 * layers * contextLength * kvDim * MemoryLayout<Float>.size }

    /// Forgets everything after the first `n` positions (n ≤ count), e.g. to rewind a conversation.
    public func truncate(to n: Int) {
        precondition(n >= 0 && n <= count, "truncate(to: \(n)) outside 0...\(count)")
        count = n
    }

    public func reset() { count = 0 }
}
