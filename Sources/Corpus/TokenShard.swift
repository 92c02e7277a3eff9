// Packed token shards in llm.c's format, the training data a model reads: a header of 256
// little-endian Int32 — magic 20240520, version (1: UInt16 tokens, for vocabularies up to 65,536;
// 2: UInt32 tokens), token count — then the tokens. Documents follow one another, each preceded by
// the EOS id (<|endoftext|>), as llm.c's data scripts write them.
import Foundation

public enum TokenShardFormat {
    public static let magic: Int32 = 20240520
    public static let headerInts = 256
    public static let headerBytes = headerInts * 4
}

/// A shard read through mmap: `count` tokens, read by index or range without copying the file.
public final class TokenShard: @unchecked Sendable {
    public let path: String
    public let count: Int
    /// 1 (UInt16 tokens) or 2 (UInt32 tokens).
    public let version: Int
    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CorpusError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CorpusError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= TokenShardFormat.headerBytes else {
            throw CorpusError.badShard(path: path, reason: "\(size) bytes, shorter than the 1024-byte header")
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CorpusError.unreadable(path: path, reason: "mmap failed: \(String(cString: strerror(errno)))")
        }
        let header = p.assumingMemoryBound(to: Int32.self)
        let magic = Int32(littleEndian: header[0]), version = Int(Int32(littleEndian: header[1]))
        let count = Int(Int32(littleEndian: header[2]))
        func fail(_ reason: String) -> CorpusError { munmap(p, size); return .badShard(path: path, reason: reason) }
        guard magic == TokenShardFormat.magic else { throw fail("magic \(magic), expected \(TokenShardFormat.magic)") }
        guard version == 1 || version == 2 else { throw fail("version \(version), expected 1 (uint16) or 2 (uint32)") }
        let expected = TokenShardFormat.headerBytes + count * (version == 1 ? 2 : 4)
        guard count >= 0, expected == size else {
            throw fail("header says \(count) tokens (\(expected) bytes) but the file has \(size) bytes (truncated?)")
        }
        base = p
        mappedBytes = size
        self.version = version
        self.count = count
    }

    deinit { munmap(base, mappedBytes) }

    public subscript(i: Int) -> Int {
        precondition(i >= 0 && i < count, "token index \(i) out of range 0..<\(count)")
        let body = base + TokenShardFormat.headerBytes
        return version == 1 ? Int(UInt16(littleEndian: body.load(fromByteOffset: i * 2, as: UInt16.self)))
                            : Int(UInt32(littleEndian: body.load(fromByteOffset: i * 4, as: UInt32.self)))
    }

    /// Tokens `range` as Int32 (the type training batches use).
    public func tokens(_ range: Range<Int>) -> [Int32] {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) out of 0..<\(count)")
        let body = base + TokenShardFormat.headerBytes
        if version == 1 {
            let p = body.assumingMemoryBound(to: UInt16.self)
            return range.map { Int32(UInt16(littleEndian: p[$0])) }
        }
        let p = body.assumingMemoryBound(to: UInt32.self)
        return range.map { Int32(bitPattern: UInt32(littleEndian: p[$0])) }
    }

    /// Every token.
    public var tokens: [Int32] { tokens(0..<count) }

    /// The shard files of a split in a tokens folder (`train_000000.bin`, ...), in order.
    public static func paths(in folder: String, split: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.filter { $0.hasPrefix(split + "_") && $0.hasSuffix(".bin") }.sorted()
            .map { URL(fileURLWithPath: folder).appendingPathComponent($0).path }
    }

    /// Writes tokens as one shard, atomically (temporary name, then rename). Version 1 when every id
    /// fits in UInt16, else version 2.
    public static func write<C: Collection>(_ tokens: C, to path: String, vocabularySize: Int) throws where C.Element == Int32 {
        let wide = vocabularySize > 65536
        var data = Data(count: TokenShardFormat.headerBytes + tokens.count * (wide ? 4 : 2))
        data.withUnsafeMutableBytes { raw in
            let header = raw.bindMemory(to: Int32.self)
            header[0] = TokenShardFormat.magic.littleEndian
            header[1] = Int32(wide ? 2 : 1).littleEndian
            header[2] = Int32(tokens.count).littleEndian
            let body = raw.baseAddress! + TokenShardFormat.headerBytes
            if wide {
                let p = body.assumingMemoryBound(to: UInt32.self)
                for (i, t) in tokens.enumerated() { p[i] = UInt32(bitPattern: t).littleEndian }
            } else {
                let p = body.assumingMemoryBound(to: UInt16.self)
                for (i, t) in tokens.enumerated() { p[i] = UInt16(truncatingIfNeeded: t).littleEndian }
            }
        }
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw CorpusError.unwritable(path: path, reason: error.localizedDescription)
        }
    }
}
