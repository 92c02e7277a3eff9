// A read-only memory map of a whole file. Weights are used in place from the map (zero-copy),
// so a multi-GB checkpoint costs no load time and only the pages touched.
import Foundation

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let base: UnsafeRawPointer
    public let count: Int

    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait forever for a writer.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw CheckpointError.cannotOpen(path: path, reason: "is a directory") }
        if (st.st_mode & S_IFMT) != S_IFREG { throw CheckpointError.cannotOpen(path: path, reason: "not a regular file") }
        count = Int(st.st_size)
        if count == 0 {
            // mmap of length 0 fails; an empty file is represented by a one-byte dummy allocation.
            let dummy = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            base = UnsafeRawPointer(dummy)
            isDummy = true
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointError.cannotOpen(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
        isDummy = false
    }

    private let isDummy: Bool

    deinit {
        if isDummy { UnsafeMutableRawPointer(mutating: base).deallocate() } else { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }
}

/// A bounds-checked little-endian reader over a mapped file, used by the header parsers.
struct ByteReader {
    let file: MappedFile
    var offset: Int

    init(_ file: MappedFile, offset: Int = 0) { self.file = file; self.offset = offset }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, offset <= file.count, file.count - offset >= n else {
            throw CheckpointError.truncated(path: file.path, what: "\(what()) at byte \(offset) runs past the end (\(file.count) bytes)")
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = file.base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func bytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let buf = UnsafeRawBufferPointer(start: file.base + offset, count: n)
        offset += n
        return buf
    }
}
