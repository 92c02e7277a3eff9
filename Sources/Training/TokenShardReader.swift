// Packed token shards in llm.c's format, memory-mapped: a header of 256 little-endian Int32 —
// [0] magic 20240520, [1] version (1: UInt16 tokens, 2: UInt32 tokens), [2] token count — then the
// tokens, documents separated by the end-of-text id. A TokenStream joins shards (or an in-memory
// array) into one sequence that training cuts into windows.
import Foundation
import Checkpoints

public final class TokenShardReader: @unchecked Sendable {
    public static let magic: Int32 = 20240520
    public static let headerBytes = 256 * 4

    public let path: String
    public let count: Int
    /// Bytes per token: 2 (version 1) or 4 (version 2).
    public let width: Int
    private let file: MappedFile

    public init(path: String) throws {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch {
            throw PretrainError.data(path: path, what: "cannot open the token shard (\(error))")
        }
        self.file = file
        self.path = path
        guard file.count >= Self.headerBytes else {
            throw PretrainError.data(path: path, what: "truncated token shard: \(file.count) bytes, the header alone is \(Self.headerBytes)")
        }
        func header(_ i: Int) -> Int32 { Int32(littleEndian: file.base.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)) }
        guard header(0) == Self.magic else {
            throw PretrainError.data(path: path, what: "not a token shard (magic \(header(0)), expected \(Self.magic))")
        }
        switch header(1) {
        case 1: width = 2
        case 2: width = 4
        default: throw PretrainError.data(path: path, what: "unsupported token shard version \(header(1)) (1: uint16, 2: uint32)")
        }
        let n = Int(header(2))
        guard n >= 0, Self.headerBytes + n * width <= file.count else {
            throw PretrainError.data(path: path, what: "truncated token shard: the header says \(n) tokens, the file holds \((file.count - Self.headerBytes) / width)")
        }
        count = n
    }

    @inline(__always)
    public subscript(i: Int) -> Int {
        let offset = Self.headerBytes + i * width
        return width == 2 ? Int(UInt16(littleEndian: file.base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                          : Int(UInt32(littleEndian: file.base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    /// Writes a shard (version 1 when every id fits in UInt16, else 2): for tests and `--text` caches.
    public static func write(_ tokens: [Int], to path: String) throws {
        let wide = tokens.contains { $0 > Int(UInt16.max) }
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic; header[1] = wide ? 2 : 1; header[2] = Int32(tokens.count)
        var data = Data(capacity: headerBytes + tokens.count * (wide ? 4 : 2))
        for h in header { withUnsafeBytes(of: h.littleEndian) { data.append(contentsOf: $0) } }
        for t in tokens {
            if wide { withUnsafeBytes(of: UInt32(t).littleEndian) { data.append(contentsOf: $0) } }
            else { withUnsafeBytes(of: UInt16(t).littleEndian) { data.append(contentsOf: $0) } }
        }
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw PretrainError.data(path: path, what: "cannot write: \(error.localizedDescription)")
        }
    }
}

/// One token sequence made of shards read in place, or of tokens held in memory.
public final class TokenStream: @unchecked Sendable {
    private let shards: [TokenShardReader]
    private let starts: [Int]          // first index of each shard in the stream
    private let array: [Int32]?
    /// Where this stream starts in its shards or array (a view of part of another stream).
    private let offset: Int
    public let count: Int
    /// Where the tokens came from (shard paths or a description), for messages.
    public let source: String

    public init(shards: [TokenShardReader]) {
        self.shards = shards
        var starts: [Int] = [], total = 0
        for s in shards { starts.append(total); total += s.count }
        self.starts = starts; count = total; array = nil; offset = 0
        source = shards.map(\.path).joined(separator: ", ")
    }

    public init(tokens: [Int], source: String) {
        shards = []; starts = []; array = tokens.map { Int32($0) }; count = tokens.count; offset = 0; self.source = source
    }

    /// Part of another stream (a validation split held out from the training tokens).
    public init(_ base: TokenStream, range: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= base.count)
        shards = base.shards; starts = base.starts; array = base.array
        offset = base.offset + range.lowerBound; count = range.count; source = base.source
    }

    /// tokens[range] as Ints (may cross shard boundaries).
    public func tokens(_ window: Range<Int>) -> [Int] {
        precondition(window.lowerBound >= 0 && window.upperBound <= count)
        let range = (window.lowerBound + offset)..<(window.upperBound + offset)
        if let array { return array[range].map { Int($0) } }
        var out: [Int] = []
        out.reserveCapacity(range.count)
        var shard = max(0, (starts.lastIndex { $0 <= range.lowerBound }) ?? 0)
        var i = range.lowerBound
        while i < range.upperBound {
            while shard + 1 < shards.count && starts[shard + 1] <= i { shard += 1 }
            let s = shards[shard], local = i - starts[shard]
            let end = min(range.upperBound - i, s.count - local)
            for j in 0..<end { out.append(s[local + j]) }
            i += end
            if end == 0 { shard += 1 }
        }
        return out
    }

    /// The first id ≥ vocabSize (a tokenizer that does not match the shards), with its index.
    public func firstOutOfRange(vocabSize: Int) -> (index: Int, id: Int)? {
        let chunk = 1 << 16
        var start = 0
        while start < count {
            let part = tokens(start..<min(start + chunk, count))
            if let j = part.firstIndex(where: { $0 >= vocabSize || $0 < 0 }) { return (start + j, part[j]) }
            start += chunk
        }
        return nil
    }
}
