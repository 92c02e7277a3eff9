// Writing a file so that it appears whole or not at all. Bytes go to a temporary name in the same
// folder (same file system, so the final rename is atomic), are flushed to disk, and only then is the
// file renamed to its final name. A writer killed midway leaves a stray hidden `.tmp` file, never a
// half checkpoint under the name a reader would open.
import Basics
import Foundation
#if canImport(Glibc)
import Glibc
private let systemWrite = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let systemWrite = Darwin.write
#endif

public final class AtomicFile {
    /// The final name.
    let path: String
    let temporaryPath: String
    private(set) var bytesWritten = 0
    private var fd: Int32
    private var committed = false

    /// Writes `data` as the file at `path`, whole or not at all; on any failure no temporary file is left.
    public static func write(_ data: Data, to path: String) throws {
        let file = try AtomicFile(path: path)
        try file.write(data)
        try file.commit()
    }

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError.cannotWrite(path: path, reason: "folder \(folder) does not exist")
        }
        temporaryPath = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
        fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.cannotWrite(path: path, reason: WriteFailure.reason(errno: errno)) }
    }

    deinit {
        guard !committed else { return }
        if fd >= 0 { close(fd) }
        unlink(temporaryPath)
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws {
        guard var p = buffer.baseAddress else { return }
        var left = buffer.count
        while left > 0 {
            let n = systemWrite(fd, p, min(left, 1 << 30))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.cannotWrite(path: path, reason: WriteFailure.reason(errno: errno))
            }
            p += n
            left -= n
            bytesWritten += n
        }
    }

    func write(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try write($0) } }
    func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        try write([UInt8](repeating: 0, count: count))
    }

    /// Flushes the bytes to disk and moves the file to its final name.
    func commit() throws {
        guard fsync(fd) == 0 else { throw CheckpointError.cannotWrite(path: path, reason: "fsync: \(WriteFailure.reason(errno: errno))") }
        let closed = close(fd)
        fd = -1
        guard closed == 0 else { throw CheckpointError.cannotWrite(path: path, reason: "close: \(WriteFailure.reason(errno: errno))") }
        guard rename(temporaryPath, path) == 0 else {
            throw CheckpointError.cannotWrite(path: path, reason: "rename: \(String(cString: strerror(errno)))")
        }
        committed = true
    }
}
