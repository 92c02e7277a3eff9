// A fast 64-bit content hash over bytes (C: Sources/CKernels/hash.c), for telling model files apart.
import CKernels

public enum ContentHash {
    /// The hash of `bytes`, continuing from `seed` (chain files by passing the previous hash).
    public static func hash64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        guard let base = bytes.baseAddress else { return hayai_hash64(nil, 0, seed) }
        return hayai_hash64(base, bytes.count, seed)
    }
}
