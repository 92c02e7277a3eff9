// Memory for a forward pass (training's saved activations): zero-initialised Float32 buffers allocated once and freed together,
// and the two-way split of element-wise loops over rows (BLAS has its own threads).
import Foundation

/// Owns a set of Float32 buffers; every pointer it hands out lives as long as the arena.
public final class BufferArena {
    private var blocks: [UnsafeMutablePointer<Float>] = []
    public private(set) var floatCount = 0
    /// Counts what would be allocated without allocating it (a memory estimate); every pointer is then
    /// one shared dummy float that must not be written.
    private let countOnly: Bool
    private static let dummy = UnsafeMutablePointer<Float>.allocate(capacity: 1)

    public init(countOnly: Bool = false) { self.countOnly = countOnly }

    /// A zeroed buffer of `count` floats (at least one, so empty switches still get a valid pointer).
    public func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let n = max(count, 1)
        if countOnly { floatCount += n; return Self.dummy }
        let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
        p.initialize(repeating: 0, count: n)
        blocks.append(p)
        floatCount += n
        return p
    }

    deinit { blocks.forEach { $0.deallocate() } }
}

public enum Parallel {
    /// Whether element-wise loops are split over two threads. Off by default: on the 2-core machine
    /// OpenBLAS's worker spins (sched_yield) for a while after every sgemm, and dispatch threads
    /// competing with it made a training step slower, not faster (best of 5 interleaved runs, 7.3M
    /// parameters, B=4 T=256: ~1860 tokens/s split vs ~2490 serial, on a loaded machine).
    nonisolated(unsafe) public static var splitElementwiseLoops = false

    /// Runs `body` over 0..<count split into two contiguous ranges on two threads when splitting is on
    /// and there is at least `minimum` work, else in one call on the current thread.
    /// Tests set this to split even tiny loops, so the split path is checked on small models.
    nonisolated(unsafe) public static var ignoreMinimumForTesting = false

    public static func rows(_ count: Int, minimum: Int = 64, _ body: (Range<Int>) -> Void) {
        guard splitElementwiseLoops, count >= (ignoreMinimumForTesting ? 2 : minimum) else { body(0..<count); return }
        let half = count / 2
        DispatchQueue.concurrentPerform(iterations: 2) { i in body(i == 0 ? 0..<half : half..<count) }
    }
}
