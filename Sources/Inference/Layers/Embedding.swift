// Token embedding: a row lookup forward, a scatter-add backward.

public enum Embedding {
    /// ids: (n), table: (vocab, c) -> out: (n, c)
    public static func forward(ids: UnsafePointer<Int32>, n: Int, table: UnsafePointer<Float>, c: Int,
                               into out: UnsafeMutablePointer<Float>) {
        for r in 0..<n { (out + r * c).update(from: table + Int(ids[r]) * c, count: c) }
    }

    /// dout: (n, c) -> dtable[ids[r]] += dout[r]   (a token seen twice gets both rows)
    public static func backward(ids: UnsafePointer<Int32>, n: Int, dout: UnsafePointer<Float>, c: Int,
                                dtable: UnsafeMutablePointer<Float>) {
        for r in 0..<n {
            let src = dout + r * c, dst = dtable + Int(ids[r]) * c
            for i in 0..<c { dst[i] += src[i] }
        }
    }
}
