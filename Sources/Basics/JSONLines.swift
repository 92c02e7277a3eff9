// Reading JSON Lines, one way for every file hayai reads (eval items, instructions, corpora, chat input): lines
// numbered as an editor numbers them (blank lines count, CRLF is fine), blank lines passed over, and
// one policy for a bad line (not UTF-8, or what the caller's parser rejects): stop with
// `path:line: reason`, or, when the caller asked to skip, pass over it and report it — never drop it
// silently. Files are streamed: a reader holds one chunk and the longest line, whatever the file's size,
// so `--limit 3` on a gigabyte reads a few kilobytes.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum JSONLines {
    /// What a caller's parser throws for a line it cannot use; the reader adds the file and line.
    public struct Problem: Error {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    /// A bad line: where it is and what is wrong (thrown, or listed when skipping).
    public struct BadLine: Error, CustomStringConvertible, Sendable, Equatable {
        public var path: String
        public var line: Int
        public var reason: String
        public var description: String { "\(path):\(line): \(reason)" }
    }

    /// Raw lines of a file descriptor (or of bytes in memory), split at LF with a trailing CR dropped, numbered
    /// from 1. Reads `chunkSize` bytes at a time and searches each byte for a newline once, so a line of n bytes
    /// costs O(n) however it arrives (a pipe hands over 64 KiB at a time).
    public struct Lines {
        private var buffer: [UInt8]
        /// Where the unread part of `buffer` starts and ends, and how far a newline was already looked for.
        private var start = 0, end = 0, searched = 0
        private var atEnd: Bool
        private let fileDescriptor: Int32?
        private let chunkSize: Int
        /// The number of the line `next()` returned last (blank ones included).
        public private(set) var number = 0
        /// Bytes handed out so far (lines and their newlines): where the next line starts in the file.
        public private(set) var offset = 0

        public static let defaultChunkSize = 1 << 20

        /// Lines of `fileDescriptor`, which the reader does not close.
        public init(fileDescriptor: Int32, chunkSize: Int = defaultChunkSize) {
            self.fileDescriptor = fileDescriptor
            self.chunkSize = chunkSize
            buffer = []
            atEnd = false
        }

        /// Lines of bytes already in memory.
        public init(data: Data) {
            fileDescriptor = nil
            chunkSize = 0
            buffer = [UInt8](data)
            end = buffer.count
            atEnd = true
        }

        /// Lines of the file at `path`; throws BadLine (line 0) when it cannot be opened.
        public init(path: String, chunkSize: Int = defaultChunkSize) throws {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                throw BadLine(path: path, line: 0, reason: errno == ENOENT ? "no such file" : "cannot read the file")
            }
            var info = stat()
            if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                _ = Glibc.close(fd)
                throw BadLine(path: path, line: 0, reason: "cannot read the file (a folder)")
            }
            self.init(fileDescriptor: fd, chunkSize: chunkSize)
            openedDescriptor = fd
        }

        /// The descriptor `init(path:)` opened; closed by `close()` or when the reader reaches the end.
        private var openedDescriptor: Int32?

        /// Closes a file this reader opened (safe to call twice; a descriptor handed in stays open).
        public mutating func close() {
            if let fd = openedDescriptor { _ = Glibc.close(fd); openedDescriptor = nil }
        }

        /// The next line's bytes (without LF and a trailing CR), or nil at the end. Throws `Problem` when reading fails.
        public mutating func next() throws -> ArraySlice<UInt8>? {
            while true {
                if let newline = findNewline() {
                    var line = buffer[start..<newline]
                    offset += newline + 1 - start
                    start = newline + 1
                    searched = start
                    number += 1
                    if line.last == 0x0D { line = line.dropLast() }
                    return line
                }
                if atEnd {
                    guard start < end else { close(); return nil }
                    var line = buffer[start..<end]
                    offset += end - start
                    start = end
                    searched = start
                    number += 1
                    if line.last == 0x0D { line = line.dropLast() }
                    return line
                }
                try fill()
            }
        }

        /// Passes over the next line without handing out its bytes; false at the end.
        public mutating func skip() throws -> Bool { try next() != nil }

        private mutating func findNewline() -> Int? {
            guard searched < end else { return nil }
            let found: Int? = buffer.withUnsafeBufferPointer { all in
                guard let base = all.baseAddress, let hit = memchr(base + searched, 0x0A, end - searched) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            searched = found ?? end
            return found
        }

        private mutating func fill() throws {
            guard let fd = fileDescriptor else { atEnd = true; return }
            // Move the unread part to the front, so the buffer holds at most the current line and one chunk.
            if start > 0 {
                let kept = end - start
                buffer.withUnsafeMutableBufferPointer { all in
                    if kept > 0 { _ = memmove(all.baseAddress!, all.baseAddress! + start, kept) }
                }
                end = kept
                searched -= start
                start = 0
            }
            if buffer.count < end + chunkSize {
                buffer += [UInt8](repeating: 0, count: max(end + chunkSize, 2 * buffer.count) - buffer.count)
            }
            var got = 0
            let at = end, room = buffer.count - end
            repeat {
                got = buffer.withUnsafeMutableBufferPointer { Glibc.read(fd, $0.baseAddress! + at, room) }
            } while got < 0 && errno == EINTR
            guard got >= 0 else { throw Problem("cannot read the file (\(String(cString: strerror(errno))))") }
            end += got
            if got == 0 { atEnd = true }
        }
    }

    /// Items of a JSONL file, parsed one line at a time as the caller asks for them, with the one bad-line policy.
    public struct Reader<Item> {
        public let path: String
        public let skipBadLines: Bool
        private var lines: Lines
        private let parse: (_ line: String, _ number: Int) throws -> Item?
        /// Bad lines passed over so far (only when skipping).
        public private(set) var skipped: [BadLine] = []
        /// The number of the last line read.
        public var lineNumber: Int { lines.number }
        /// Bytes of the file read so far (up to the end of the last line handed to `parse`).
        public var bytesRead: Int { lines.offset }

        /// `parse` gets each non-blank line with its 1-based number and returns an item, nil for a good line the
        /// caller does not want, or throws `Problem`. `data`, when given, is read instead of the file.
        public init(path: String, data: Data? = nil, skipBadLines: Bool,
                    parse: @escaping (_ line: String, _ number: Int) throws -> Item?) throws {
            self.path = path
            self.skipBadLines = skipBadLines
            self.parse = parse
            lines = try data.map { Lines(data: $0) } ?? Lines(path: path)
        }

        /// The next item, or nil at the end of the file. Throws `BadLine` for a bad line unless skipping.
        public mutating func next() throws -> Item? {
            while true {
                let raw: ArraySlice<UInt8>?
                do { raw = try lines.next() } catch let p as Problem {
                    throw BadLine(path: path, line: lines.number + 1, reason: p.reason)
                }
                guard let raw else { return nil }
                let number = lines.number
                var problem: String?
                if let line = String(validating: raw, as: UTF8.self) {
                    if line.utf8.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                    do {
                        if let item = try parse(line, number) { return item }
                        continue
                    } catch let p as Problem {
                        problem = p.reason
                    }
                } else {
                    problem = "not valid UTF-8"
                }
                let bad = BadLine(path: path, line: number, reason: problem!)
                guard skipBadLines else { lines.close(); throw bad }
                skipped.append(bad)
            }
        }

        /// Stops reading (closes the file); the reader is done.
        public mutating func close() { lines.close() }
    }

    /// Reads `path` (or `data` when given) to the end, or until `limit` items: the items and, when
    /// `skipBadLines`, the bad lines passed over. Throws `BadLine` for the first bad line unless skipping.
    public static func read<Item>(path: String, data: Data? = nil, skipBadLines: Bool, limit: Int? = nil,
                                  parse: (_ line: String, _ number: Int) throws -> Item?) throws -> (items: [Item], skipped: [BadLine]) {
        try withoutActuallyEscaping(parse) { parse in
            var reader = try Reader(path: path, data: data, skipBadLines: skipBadLines, parse: parse)
            defer { reader.close() }
            var items: [Item] = []
            while limit.map({ items.count < $0 }) ?? true, let item = try reader.next() { items.append(item) }
            return (items, reader.skipped)
        }
    }

    /// The number of non-blank lines of `path`, counted without parsing them (a file's item count when every
    /// line is good); memory stays one chunk.
    public static func countNonBlankLines(path: String) throws -> Int {
        var lines = try Lines(path: path)
        defer { lines.close() }
        var count = 0
        do {
            while let line = try lines.next() {
                if line.contains(where: { $0 != 0x20 && $0 != 0x09 }) { count += 1 }
            }
        } catch let p as Problem {
            throw BadLine(path: path, line: lines.number + 1, reason: p.reason)
        }
        return count
    }

    /// The line as a JSON object (JSONSerialization's), or a Problem.
    public static func object(_ line: String) throws -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            throw Problem("not a JSON object")
        }
        return object
    }
}
