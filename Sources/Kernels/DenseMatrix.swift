// Matrix products with unquantized weights kept as they are stored: Float32, Float16 or BFloat16
// (GGUF F16, Hugging Face F16/BF16 safetensors), usually inside a memory-mapped file.
//
//   matVec (decoding, one token):  x: (cols) -> y: (rows)       rows split over the ThreadPool,
//                                                               AVX2 dot rows (F16C converts halves)
//   matMul (prompt, t tokens):     x: (t, cols) -> y: (t, rows) single-threaded sgemm per tile of
//                                                               rows, tiles over the pool; F16/BF16
//                                                               tiles widened to Float32 first
//
// Decoding never calls BLAS: OpenBLAS's threads and the pool's workers would both spin on the two
// cores (measured on a 2-vCPU VM), and sgemv is slower than these loops for the small rows of a token.
import CKernels

public struct DenseMatrix: @unchecked Sendable {
    public enum Element: Sendable, CustomStringConvertible {
        case f32, f16, bf16
        public var byteSize: Int { self == .f32 ? 4 : 2 }
        public var description: String {
            switch self { case .f32: return "F32"; case .f16: return "F16"; case .bf16: return "BF16" }
        }
    }

    public let element: Element
    public let rows: Int
    public let cols: Int
    /// Row 0; rows are `cols` elements apart. Not owned.
    public let data: UnsafeRawPointer
    /// Weight bytes per unit of work handed to a thread.
    public var chunkBytes = 64 * 1024

    public init(element: Element, rows: Int, cols: Int, data: UnsafeRawPointer) {
        self.element = element; self.rows = rows; self.cols = cols; self.data = data
    }

    public var rowBytes: Int { cols * element.byteSize }
    public var byteCount: Int { rows * rowBytes }

    /// y[r] = W_r · x for rows r0..<r0+n.
    @inline(__always) func dotRows(_ r0: Int, _ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        switch element {
        case .f32:
            hayai_f32_dot_rows(data.assumingMemoryBound(to: Float.self) + r0 * cols, cols, Int32(n), Int32(cols), x, y + r0)
        case .f16:
            hayai_f16_dot_rows(data.assumingMemoryBound(to: UInt16.self) + r0 * cols, cols, Int32(n), Int32(cols), x, y + r0)
        case .bf16:
            hayai_bf16_dot_rows(data.assumingMemoryBound(to: UInt16.self) + r0 * cols, cols, Int32(n), Int32(cols), x, y + r0)
        }
    }

    /// y (rows) = W (rows, cols) · x (cols).
    public func matVec(x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        let chunk = max(4, chunkBytes / max(rowBytes, 1)) & ~3
        let chunks = (rows + chunk - 1) / chunk
        guard let pool, pool.threads > 1, chunks > 1 else { return dotRows(0, rows, x, y) }
        pool.parallelFor(count: chunks) { c in
            let r0 = c * chunk
            dotRows(r0, min(chunk, rows - r0), x, y)
        }
    }

    /// Rows `range` as Float32 into `out` ((range.count, cols)).
    public func rowsAsFloat(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let n = range.count * cols, start = range.lowerBound * cols
        switch element {
        case .f32: out.update(from: data.assumingMemoryBound(to: Float.self) + start, count: n)
        case .f16: hayai_f16_to_f32(data.assumingMemoryBound(to: UInt16.self) + start, out, n)
        case .bf16: hayai_bf16_to_f32(data.assumingMemoryBound(to: UInt16.self) + start, out, n)
        }
    }

    /// y (t, rows) = x (t, cols) · Wᵀ.
    public func matMul(x: UnsafePointer<Float>, t: Int, into y: UnsafeMutablePointer<Float>, pool: ThreadPool?) {
        if t == 1 { return matVec(x: x, into: y, pool: pool) }
        // Tiles of ~1 MiB of floats (F16/BF16 widened first), one single-threaded sgemm per tile,
        // tiles spread over the pool (OpenBLAS's own threads stay idle: see BLAS.withSingleThread).
        let tileRows = min(rows, max(16, (1 << 18) / max(cols, 1)))
        let tiles = (rows + tileRows - 1) / tileRows
        let body = { (i: Int) in
            let r0 = i * tileRows, n = min(tileRows, rows - r0)
            if element == .f32 {
                let w = data.assumingMemoryBound(to: Float.self) + r0 * cols
                BLAS.gemm(transA: false, transB: true, m: t, n: n, k: cols, a: x, lda: cols, b: w, ldb: cols, c: y + r0, ldc: rows)
                return
            }
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: n * cols)
            defer { tile.deallocate() }
            rowsAsFloat(r0..<r0 + n, into: tile)
            BLAS.gemm(transA: false, transB: true, m: t, n: n, k: cols, a: x, lda: cols, b: tile, ldb: cols, c: y + r0, ldc: rows)
        }
        guard let pool, pool.threads > 1, tiles > 1 else {
            if element == .f32 {
                return BLAS.linear(x, t: t, data.assumingMemoryBound(to: Float.self), inFeatures: cols, outFeatures: rows, into: y)
            }
            for i in 0..<tiles { body(i) }
            return
        }
        BLAS.withSingleThread { pool.parallelFor(count: tiles, body: body) }
    }
}
