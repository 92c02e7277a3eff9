// Matrix products with quantized weights. A `QuantizedMatrix` points at rows × cols weights in a
// GGUF block type (usually inside a memory-mapped file) and never copies or dequantizes them whole.
//
//   matVec (decoding, one token):  x: (cols) -> y: (rows),  y[r] = W[r] · x
//   matMul (prompt, t tokens):     x: (t, cols) -> y: (t, rows),  y = x · Wᵀ
//
// The activations are quantized once per call (Q8_0, Q8_1 or Q8_K, see QuantizedDot) and every
// weight row is an integer dot product with them; rows are split over the thread pool in chunks of
// about `chunkBytes` of weights, handed out dynamically.
//
// Matrices of every type with a quantized dot (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q4_K, Q5_K, Q6_K) can
// be repacked once (`interleaved()`) into groups of 16 rows whose blocks are interleaved for
// AVX512-VNNI (CKernels/quant_x16.c): same size, no row reductions, several times the per-core
// throughput of the row layout. Inference does this at load where the
// CPU has the instructions; GGUF files on disk keep the GGUF layout.

import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

public enum QuantizedMatrixError: Error, CustomStringConvertible {
    case unsupportedType(GGMLType)
    case partialBlocks(GGMLType, cols: Int)
    public var description: String {
        switch self {
        case .unsupportedType(let t): return "no quantized matrix product for tensor type \(t)"
        case .partialBlocks(let t, let cols): return "rows of \(cols) elements are not a whole number of \(t) blocks of \(t.blockSize)"
        }
    }
}

public struct QuantizedMatrix: @unchecked Sendable {
    /// How `matMul` computes a product of several tokens.
    public enum MatMulStrategy: Sendable, CustomStringConvertible {
        /// Dequantize tiles of weight rows into a small Float buffer and multiply with sgemm (BLAS).
        case dequantizeTilesAndGemm
        /// One quantized dot product per (token, weight row), weight rows reused from cache.
        case quantizedDots
        public var description: String { self == .quantizedDots ? "quantized dots" : "dequantize + sgemm" }
    }

    /// How the blocks are arranged in memory.
    public enum Layout: Sendable {
        /// GGUF's: each row's blocks in order, rows `rowBytes` apart.
        case rows
        /// Groups of 16 rows with their blocks interleaved (quant_x16.c); a group takes 16 × `rowBytes`.
        case interleaved16
    }

    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    /// The first byte of row 0 (or of group 0); rows follow each other `rowBytes` apart. Not owned:
    /// the memory (usually a mapped GGUF file) must outlive the matrix.
    public let data: UnsafeRawPointer
    public let rowBytes: Int
    public private(set) var layout: Layout = .rows
    /// Which dot-product implementation runs (AVX2 where the CPU has it).
    public var path: QuantizedDot.Path
    /// Weight bytes per unit of work handed to a thread: large enough that the per-call preparation
    /// of the activations (scales, offsets, Q4_0's pair layout) stays a few percent of the work.
    public var chunkBytes = 128 * 1024

    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer, path: QuantizedDot.Path = QuantizedDot.bestPath) throws {
        guard QuantizedDot.activationType(for: type) != nil else { throw QuantizedMatrixError.unsupportedType(type) }
        guard let rowBytes = type.byteCount(elements: cols) else { throw QuantizedMatrixError.partialBlocks(type, cols: cols) }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = rowBytes
        self.path = path
    }

    /// True when this CPU runs the interleaved layout's kernels (AVX512 F/BW/VL and VNNI).
    public static var interleavingAvailable: Bool { hayai_x16_available() != 0 }

    /// Whether `interleaved()` can repack this matrix on this CPU: a type with an x16 kernel, whole
    /// groups of 16 rows, rows of at most 65536 elements (the kernels prepare a token's activations
    /// on the stack), AVX512-VNNI present, the fast path selected.
    public var canInterleave: Bool {
        layout == .rows && path == .avx2 && rows % 16 == 0 && rows > 0 && cols <= 65536
            && hayai_x16_supports(type.rawValue) != 0 && hayai_x16_available() != 0
    }

    /// This matrix repacked into the 16-row interleaved layout, with the buffer that holds it (keep
    /// it alive as long as the matrix); nil where `canInterleave` is false.
    public func interleaved() -> (matrix: QuantizedMatrix, owner: AnyObject)? {
        guard canInterleave else { return nil }
        let owner = AlignedBytes(count: rows * rowBytes)
        return (interleaved(into: owner.pointer), owner)
    }

    /// This matrix repacked into the 16-row interleaved layout at `buffer` (rows × rowBytes bytes,
    /// 64-byte aligned, kept alive by the caller as long as the matrix). Needs `canInterleave`.
    public func interleaved(into buffer: UnsafeMutableRawPointer) -> QuantizedMatrix {
        precondition(canInterleave, "\(type) \(rows)x\(cols) cannot be interleaved here")
        let nb = cols / type.blockSize, groups = rows / 16
        let groupBytes = 16 * rowBytes
        precondition(hayai_x16_group_bytes(type.rawValue, Int32(nb)) == groupBytes)
        let src = data, dst = buffer, type = self.type, rowBytes = self.rowBytes
        let per = max(1, (1 << 20) / groupBytes), pieces = (groups + per - 1) / per
        DispatchQueue.concurrentPerform(iterations: pieces) { p in
            let g0 = p * per, n = min(per, groups - g0)
            hayai_x16_pack(type.rawValue, Int32(nb), src + g0 * groupBytes, rowBytes, Int32(n), dst + g0 * groupBytes)
        }
        var m = QuantizedMatrix(copying: self, data: UnsafeRawPointer(dst))
        m.layout = .interleaved16
        return m
    }

    private init(copying m: QuantizedMatrix, data: UnsafeRawPointer) {
        type = m.type; rows = m.rows; cols = m.cols; rowBytes = m.rowBytes; path = m.path; chunkBytes = m.chunkBytes
        self.data = data
    }

    /// y[s·ldy + r] = W_r · x_s for rows r0 ..< r0 + n and `tokens` quantized activation rows
    /// `stride` bytes apart, in either layout (for the interleaved one r0 and n are whole groups, as
    /// the chunk sizes hand them out).
    /// `prepared` (interleaved layout only): hayai_x16_prepare's rows for the same tokens, `preparedStride` bytes apart.
    func dotRows(_ r0: Int, _ n: Int, activations xq: UnsafeRawPointer, stride: Int = 0, tokens: Int = 1,
                 into y: UnsafeMutablePointer<Float>, ldy: Int = 0, prepared: UnsafeRawPointer? = nil, preparedStride: Int = 0) {
        switch layout {
        case .rows:
            QuantizedDot.dotRowsTokens(type, count: cols, weights: data + r0 * rowBytes, rowBytes: rowBytes, rows: n,
                                       activations: xq, activationStride: stride, tokens: tokens, into: y + r0, ldy: ldy, path: path)
        case .interleaved16:
            let done = hayai_x16_dot_rows_tokens_prepared(type.rawValue, Int32(cols / type.blockSize), data + r0 * rowBytes, Int32(n / 16),
                                                          xq, stride, prepared, preparedStride, Int32(tokens), y + r0, ldy)
            precondition(done != 0, "x16 kernels unavailable")
        }
    }

    /// The format `x` is quantized to.
    public var activationType: GGMLType { QuantizedDot.activationType(for: type)! }
    /// Bytes of one quantized activation row.
    public var activationRowBytes: Int { activationType.byteCount(elements: cols)! }

    /// Quantizes one activation row of `cols` floats into `activationRowBytes` bytes at `xq`: in
    /// AVX2 on the fast path (CKernels/quant_act.c, bit for bit the scalar quantizers below, which the
    /// scalar path runs).
    public func quantizeActivations(_ x: UnsafePointer<Float>, into xq: UnsafeMutableRawPointer) {
        let act = activationType
        if path == .avx2 {
            switch act {
            case .q8_0: hayai_quantize_row_q8_0(x, xq, Int32(cols))
            case .q8_1: hayai_quantize_row_q8_1(x, xq, Int32(cols))
            default: hayai_quantize_row_q8_K(x, xq, Int32(cols))
            }
            return
        }
        let size = act.bytesPerBlock, block = act.blockSize
        for b in 0..<cols / block {
            switch act {
            case .q8_0: quantizeBlockQ8_0(x + b * block, xq + b * size)
            case .q8_1: quantizeBlockQ8_1(x + b * block, xq + b * size)
            default: quantizeBlockQ8_K(x + b * block, xq + b * size)
            }
        }
    }

    private var rowsPerChunk: Int {
        layout == .rows ? max(4, chunkBytes / rowBytes) : max(16, chunkBytes / rowBytes / 16 * 16)
    }

    /// Rows per unit of work of a matrix-vector product on `threads` threads. Each unit is one
    /// forward stream that the hardware prefetcher has to pick up anew, so units are large: about
    /// `matVecChunksPerThread` per thread (at least `chunkBytes`), enough for a thread to take over
    /// the work of a core that another process holds.
    private func rowsPerMatVecChunk(threads: Int) -> Int {
        let share = rows / max(1, threads * Self.matVecChunksPerThread)
        return max(rowsPerChunk, layout == .rows ? share : share / 16 * 16)
    }

    /// Units of work per thread in a matrix-vector product (see rowsPerMatVecChunk). Measured on the
    /// 2-core VM, Q8_0 stablelm-2-1.6b decode on 2 threads: 128 KiB units reached ~63% of the read
    /// bandwidth probed around the run, 4 units per thread 83–95%; 1, 2 and 8 were within the noise.
    nonisolated(unsafe) public static var matVecChunksPerThread = 4

    // MARK: One token

    /// y (rows) = W (rows, cols) · x (cols).
    public func matVec(x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        withUnsafeTemporaryAllocation(byteCount: activationRowBytes, alignment: 64) { xq in
            quantizeActivations(x, into: xq.baseAddress!)
            matVec(quantized: UnsafeRawPointer(xq.baseAddress!), into: y, pool: pool)
        }
    }

    /// y = W · x for an x already quantized by `quantizeActivations` (share it between matrices that
    /// multiply the same input, such as the q, k and v projections).
    public func matVec(quantized xq: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        guard let pool, pool.threads > 1 else { return dotRows(0, rows, activations: xq, into: y) }
        let chunk = rowsPerMatVecChunk(threads: pool.threads)
        let chunks = (rows + chunk - 1) / chunk
        guard chunks > 1 else { return dotRows(0, rows, activations: xq, into: y) }
        pool.parallelFor(count: chunks) { c in
            let r0 = c * chunk
            dotRows(r0, min(chunk, rows - r0), activations: xq, into: y)
        }
    }

    /// y_a = A · x, y_b = B · x and (when given) y_c = C · x in one pass over the pool: x is
    /// quantized once and the matrices' chunks form one job, so a token's q/k/v (or up/gate)
    /// projections cost one synchronisation instead of three. The matrices must share `cols` and
    /// the activation type (else each is multiplied on its own).
    public static func matVec(_ a: QuantizedMatrix, into ya: UnsafeMutablePointer<Float>,
                              _ b: QuantizedMatrix, into yb: UnsafeMutablePointer<Float>,
                              _ c: QuantizedMatrix?, into yc: UnsafeMutablePointer<Float>?,
                              x: UnsafePointer<Float>, pool: ThreadPool?) {
        let act = a.activationType
        guard b.cols == a.cols, b.activationType == act, c.map({ $0.cols == a.cols && $0.activationType == act }) ?? true else {
            a.matVec(x: x, into: ya, pool: pool); b.matVec(x: x, into: yb, pool: pool)
            if let c, let yc { c.matVec(x: x, into: yc, pool: pool) }
            return
        }
        withUnsafeTemporaryAllocation(byteCount: a.activationRowBytes, alignment: 64) { buffer in
            let xq = UnsafeRawPointer(buffer.baseAddress!)
            a.quantizeActivations(x, into: buffer.baseAddress!)
            let threads = pool?.threads ?? 1
            let ca = a.rowsPerMatVecChunk(threads: threads), cb = b.rowsPerMatVecChunk(threads: threads)
            let cc = c?.rowsPerMatVecChunk(threads: threads) ?? 1
            let na = (a.rows + ca - 1) / ca, nb = (b.rows + cb - 1) / cb, nc = c.map { ($0.rows + cc - 1) / cc } ?? 0
            func run(_ m: QuantizedMatrix, _ chunk: Int, _ i: Int, _ y: UnsafeMutablePointer<Float>) {
                let r0 = i * chunk
                m.dotRows(r0, min(chunk, m.rows - r0), activations: xq, into: y)
            }
            let body = { (i: Int) in
                if i < na { run(a, ca, i, ya) } else if i < na + nb { run(b, cb, i - na, yb) } else { run(c!, cc, i - na - nb, yc!) }
            }
            if let pool, pool.threads > 1 { pool.parallelFor(count: na + nb + nc, body: body) } else { for i in 0..<(na + nb + nc) { body(i) } }
        }
    }

    // MARK: Several tokens

    /// The strategy `matMul` uses for `t` tokens when none is given: quantized dots below a
    /// crossover, dequantized tiles + sgemm from it on. The crossover is 256 tokens for Q8_0, 128 for
    /// Q4_0 (both have kernels that reuse each unpacked weight block for 4 tokens) and 64 for the
    /// other types (one token at a time).
    ///
    /// Measured on the 2-core Zen 5 VM (release, 2048 × 2048 weights, OpenBLAS Haswell sgemm, best of
    /// 3–7 alternating runs on a machine shared with other builds; QuantMatmulTests
    /// .testPrintMatMulStrategyTimings), GFLOP/s, quantized dots / dequantize + sgemm:
    ///
    ///     1 thread   t=8     32      64      128     256     512
    ///     Q4_0       71/19   71/48   71/62   56/78   49/83   59/67
    ///     Q8_0       87/18   88/47   88/43   66/52   59/56   58/57
    ///     Q4_K       53/18   35/32   38/47   35/52   36/59   34/58
    ///     2 threads
    ///     Q4_0       69/11   65/33   67/33   47/44   46/51   46/54
    ///     Q8_0       80/8    80/33   90/49   105/65  85/75   77/87
    ///     Q4_K       53/8    52/46   52/71   53/64   79/51   51/83
    ///
    /// The integer dots run at a steady rate for every t; sgemm runs faster but first pays for
    /// dequantizing every tile (scalar reference code), which only large t amortizes.
    ///
    /// Interleaved matrices always use the quantized dots: the 16-row VNNI kernels ran 2048 × 2048
    /// at ~300 GFLOP/s a thread for Q4_0 and Q8_0, for t from 8 to 512 (one thread, release), against
    /// OpenBLAS sgemm's ~96. The C kernels alone (all 2048 rows against t = 64, one thread, best of 25
    /// on the shared VM, 2026-12-02): Q4_0 ~520, Q4_1 ~535, Q5_0 ~475, Q5_1 ~425, Q8_0 ~410, Q4_K
    /// ~350–415, Q5_K ~255–310, Q6_K ~390–440 GFLOP/s (Q6_K ~210 when it took one token at a time).
    public func preferredStrategy(tokens t: Int) -> MatMulStrategy {
        if layout == .interleaved16 { return .quantizedDots }
        let crossover: Int
        switch type {
        case .q8_0: crossover = 256
        case .q4_0: crossover = 128
        default: crossover = 64
        }
        return t < crossover ? .quantizedDots : .dequantizeTilesAndGemm
    }

    /// y (t, rows) = x (t, cols) · Wᵀ.
    public func matMul(x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?,
                       strategy: MatMulStrategy? = nil) {
        if t == 1 { return matVec(x: x, into: y, pool: pool) }
        switch strategy ?? preferredStrategy(tokens: t) {
        case .quantizedDots: matMulQuantizedDots(x: x, t: t, into: y, pool: pool)
        case .dequantizeTilesAndGemm: matMulDequantizeGemm(x: x, t: t, into: y, pool: pool)
        }
    }

    private func matMulQuantizedDots(x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        Self.quantizedDots([(self, y)], x: x, t: t, pool: pool)
    }

    /// y_i (t, rows_i) = x (t, cols) · W_iᵀ for matrices that multiply the same x (a layer's q, k and v, or
    /// gate and up): x is quantized once and the matrices' work is one job over the pool, so the three
    /// small products cost one quantization and one synchronisation instead of three. Matrices that do
    /// not share `cols`, the activation type and the path, or that `preferredStrategy` sends to sgemm at
    /// this t, are multiplied one by one.
    /// A `strategy` applies to every matrix (nil: each one's preferredStrategy).
    public static func matMul(_ products: [(matrix: QuantizedMatrix, y: UnsafeMutablePointer<Float>)], x: UnsafePointer<Float>, t: Int,
                              pool: ThreadPool?, strategy: MatMulStrategy? = nil) {
        guard let first = products.first?.matrix else { return }
        let shared = products.allSatisfy {
            $0.matrix.cols == first.cols && $0.matrix.activationType == first.activationType && $0.matrix.path == first.path
                && (strategy ?? $0.matrix.preferredStrategy(tokens: t)) == .quantizedDots
        }
        guard shared, t > 1 else {
            for (m, y) in products { m.matMul(x: x, t: t, into: y, pool: pool, strategy: strategy) }
            return
        }
        quantizedDots(products.map { ($0.matrix, $0.y) }, x: x, t: t, pool: pool)
    }

    /// Quantized dots of several matrices with the same input (see matMul(_:x:t:pool:)). The work units
    /// are (row chunk, token block): each matrix's rows in near-equal chunks of about `chunkBytes` (whole
    /// groups when interleaved), the largest first, and on several threads the tokens in blocks of a
    /// multiple of 8 (the kernels take 8 tokens at a time), enough of them that every thread gets about 8
    /// units: a 192-row k or v matrix is one chunk, and without token blocks one thread did it alone while
    /// the other waited. A unit reads its weight chunk once from the outer caches and reuses it from L2
    /// for each 8 tokens, as a whole-token chunk does; the token split does not change any result.
    static func quantizedDots(_ products: [(QuantizedMatrix, UnsafeMutablePointer<Float>)], x: UnsafePointer<Float>, t: Int,
                              pool: ThreadPool?) {
        let first = products[0].0, cols = first.cols, xqBytes = first.activationRowBytes
        let xq = UnsafeMutableRawPointer.allocate(byteCount: t * xqBytes, alignment: 64)
        defer { xq.deallocate() }
        let threads = pool?.threads ?? 1
        func run(_ count: Int, _ body: (Int) -> Void) {
            if let pool, threads > 1 { pool.parallelFor(count: count, body: body) } else { for i in 0..<count { body(i) } }
        }
        // What the interleaved kernels derive from each activation row (scales as floats, sums), once per
        // token and weight type here rather than once per work unit: a unit of a few groups of a 1536-column
        // matrix spent ~8% of its time on it (the offsets' sums depend on the weight type, so per type).
        let preparedTypes = Array(Set(products.compactMap { $0.0.layout == .interleaved16 ? $0.0.type : nil })).sorted { $0.rawValue < $1.rawValue }
        let preparedStride = preparedTypes.map { hayai_x16_prepared_bytes($0.rawValue, Int32(cols / $0.blockSize)) }.max() ?? 0
        let prepared = UnsafeMutableRawPointer.allocate(byteCount: max(1, preparedTypes.count * t * preparedStride), alignment: 64)
        defer { prepared.deallocate() }
        func preparedRows(_ type: GGMLType) -> UnsafeRawPointer? {
            guard preparedStride > 0, let i = preparedTypes.firstIndex(of: type) else { return nil }
            return UnsafeRawPointer(prepared + i * t * preparedStride)
        }
        // Activations in pieces of 8 rows (one atomic per piece, not per row).
        let rowsPerPiece = 8
        run((t + rowsPerPiece - 1) / rowsPerPiece) { p in
            let s0 = p * rowsPerPiece, s1 = min(t, s0 + rowsPerPiece)
            for s in s0..<s1 { first.quantizeActivations(x + s * cols, into: xq + s * xqBytes) }
            guard preparedStride > 0 else { return }
            for (i, type) in preparedTypes.enumerated() {
                hayai_x16_prepare(type.rawValue, Int32(cols / type.blockSize), xq + s0 * xqBytes, xqBytes, Int32(s1 - s0),
                                  prepared + (i * t + s0) * preparedStride, preparedStride)
            }
        }

        var units: [(product: Int, r0: Int, rows: Int)] = []
        for (i, (m, _)) in products.enumerated() {
            let step = m.layout == .rows ? 1 : 16, steps = m.rows / step
            let chunks = max(1, (m.rows + m.rowsPerChunk - 1) / m.rowsPerChunk)
            let perChunk = (steps + chunks - 1) / chunks * step
            for r0 in stride(from: 0, to: m.rows, by: perChunk) { units.append((i, r0, min(perChunk, m.rows - r0))) }
        }
        units.sort { $0.rows != $1.rows ? $0.rows > $1.rows : ($0.product, $0.r0) < ($1.product, $1.r0) }
        let wantedBlocks = threads == 1 ? 1 : (Self.unitsPerThread * threads + units.count - 1) / units.count
        let blocks0 = max(1, min((t + 7) / 8, wantedBlocks))
        let tokenBlock = ((t + blocks0 - 1) / blocks0 + 7) / 8 * 8, blocks = (t + tokenBlock - 1) / tokenBlock
        // Token block by token block: the pool gives each thread a contiguous share of the indices, so a thread
        // works on the same tokens as in the quantization above (and the row-split ops around the product).
        run(units.count * blocks) { i in
            let u = units[i % units.count], s0 = (i / units.count) * tokenBlock
            let (m, y) = products[u.product]
            m.dotRows(u.r0, u.rows, activations: UnsafeRawPointer(xq + s0 * xqBytes), stride: xqBytes, tokens: min(tokenBlock, t - s0),
                      into: y + s0 * m.rows, ldy: m.rows, prepared: preparedRows(m.type).map { $0 + s0 * preparedStride },
                      preparedStride: preparedStride)
        }
    }

    /// Work units per thread a several-token product aims at (quantizedDots): enough that the units
    /// left when one thread finishes are a small part of the job.
    nonisolated(unsafe) public static var unitsPerThread = 8

    private func matMulDequantizeGemm(x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        // Tiles of ~1 MiB of floats: big enough for sgemm to run at speed, small enough to stay in L2/L3.
        let tileRows = min(rows, max(16, (1 << 18) / cols / 16 * 16))
        let tiles = (rows + tileRows - 1) / tileRows
        guard let pool, pool.threads > 1, tiles > 1 else {
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * cols)
            defer { tile.deallocate() }
            for r0 in stride(from: 0, to: rows, by: tileRows) {
                let n = min(tileRows, rows - r0)
                dequantizeRows(r0..<r0 + n, into: tile, pool: pool)
                BLAS.gemm(transA: false, transB: true, m: t, n: n, k: cols, a: x, lda: cols, b: tile, ldb: cols, c: y + r0, ldc: rows)
            }
            return
        }
        // One pool for everything: each thread widens its own tile and runs a single-threaded sgemm
        // on it, so OpenBLAS's threads never spin against the pool's (see BLAS.withSingleThread).
        BLAS.withSingleThread {
            pool.parallelFor(count: tiles) { i in
                let r0 = i * tileRows, n = min(tileRows, rows - r0)
                let tile = UnsafeMutablePointer<Float>.allocate(capacity: n * cols)
                defer { tile.deallocate() }
                dequantizeRows(r0..<r0 + n, into: tile)
                BLAS.gemm(transA: false, transB: true, m: t, n: n, k: cols, a: x, lda: cols, b: tile, ldb: cols, c: y + r0, ldc: rows)
            }
        }
    }

    /// Dequantizes weight rows `range` into `out` ((range.count, cols) floats), split over `pool`.
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, pool: ThreadPool? = nil) {
        let per = layout == .rows ? max(1, 16384 / cols) : max(16, 16384 / cols / 16 * 16)
        let pieces = (range.count + per - 1) / per
        let body = { (p: Int) in
            let a = range.lowerBound + p * per, b = min(range.upperBound, a + per)
            let src = data + a * rowBytes, dst = out + (a - range.lowerBound) * cols, count = (b - a) * cols
            if layout == .interleaved16 {
                if a % 16 == 0, b % 16 == 0 {
                    hayai_x16_dequantize(type.rawValue, Int32(cols / type.blockSize), src, Int32((b - a) / 16), dst)
                } else {
                    for r in a..<b {
                        hayai_x16_dequantize_row(type.rawValue, Int32(cols / type.blockSize), data + (r / 16) * 16 * rowBytes, Int32(r % 16),
                                                 out + (r - range.lowerBound) * cols)
                    }
                }
                return
            }
            switch type {
            case .q8_0 where path == .avx2: hayai_dequantize_q8_0(src, dst, count)
            case .q4_0 where path == .avx2: hayai_dequantize_q4_0(src, dst, count)
            default: try! dequantizeReference(type, src, dst, count: count)
            }
        }
        if let pool { pool.parallelFor(count: pieces, body: body) } else { for p in 0..<pieces { body(p) } }
    }
}

/// Bytes owned by a repacked matrix or a cache (64-byte aligned). Buffers of 8 MiB and more are
/// anonymous mappings with transparent huge pages requested (fewer page faults to fill them) and
/// read as zeros until written; `zeroed` clears smaller ones too.
public final class AlignedBytes: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    private let mappedBytes: Int   // 0 when allocated on the heap

    public init(count: Int, zeroed: Bool = false) {
        let huge = 2 << 20
        if count >= 4 * huge {
            let size = (count + huge - 1) / huge * huge
            if let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
                _ = madvise(p, size, 14 /* MADV_HUGEPAGE */)
                pointer = p
                mappedBytes = size
                return
            }
        }
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
        if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1)) }
        mappedBytes = 0
    }

    deinit { if mappedBytes > 0 { munmap(pointer, mappedBytes) } else { pointer.deallocate() } }
}
