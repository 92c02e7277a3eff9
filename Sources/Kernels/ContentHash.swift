// A fast 64-bit content hash over bytes (C: Sources/CKernels/hash.c), for telling model files apart.
import CKernels
import Foundation

public enum ContentHash {
    /// The hash of `bytes`, continuing from `seed` (chain files by passing the previous hash).
    public static func hash64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        guard let base = bytes.baseAddress else { return hayai_hash64(nil, 0, seed) }
        return hayai_hash64(base, bytes.count, seed)
    }

    /// The hash of the file at `path`, equal to `hash64` over its bytes, read `chunkBytes` at a time
    /// into one buffer. Reading (not mapping) keeps a multi-GB file's pages out of this process's
    /// resident set: a map touched whole would count the file a second time beside the model's own
    /// map, and the peak would be over what `train` estimated and checked before it started.
    public static func hash64(file path: String, seed: UInt64 = 0, chunkBytes: Int = 8 << 20) throws -> UInt64 {
        precondition(chunkBytes >= 32 && chunkBytes % 32 == 0, "chunks are whole 32-byte stripes")
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw ContentHashError(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ContentHashError(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ContentHashError(path: path, reason: "not a regular file") }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { buffer.deallocate() }
        var state = hayai_hash64_state()
        hayai_hash64_begin(&state, seed)
        var held = 0   // bytes at the buffer's start not yet hashed (fewer than chunkBytes)
        while true {
            let n = read(fd, buffer + held, chunkBytes - held)
            if n < 0 {
                if errno == EINTR { continue }
                throw ContentHashError(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { break }
            held += n
            if held == chunkBytes {
                hayai_hash64_stripes(&state, buffer, chunkBytes)
                held = 0
            }
        }
        let stripes = held / 32 * 32
        hayai_hash64_stripes(&state, buffer, stripes)
        return hayai_hash64_end(&state, buffer + stripes, held - stripes)
    }
}

public struct ContentHashError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot read \(path): \(reason)" }
}
