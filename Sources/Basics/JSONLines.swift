// Reading JSON Lines, one way for every file hayai reads (eval items, instructions, corpora): lines
// numbered as an editor numbers them (blank lines count, CRLF is fine), blank lines passed over, and
// one policy for a bad line (not UTF-8, or what the caller's parser rejects): stop with
// `path:line: reason`, or, when the caller asked to skip, pass over it and report it — never drop it
// silently.
import Foundation

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

    /// Reads `path` (or `data`, read from `path` when nil). `parse` gets each non-blank line with its
    /// 1-based number and returns an item, nil for a good line the caller does not want, or throws
    /// `Problem`. Stops after `limit` items. Throws `BadLine` for the first bad line unless
    /// `skipBadLines`, then returns the bad lines with the items.
    public static func read<Item>(path: String, data: Data? = nil, skipBadLines: Bool, limit: Int? = nil,
                                  parse: (_ line: String, _ number: Int) throws -> Item?) throws -> (items: [Item], skipped: [BadLine]) {
        guard let data = data ?? FileManager.default.contents(atPath: path) else {
            throw BadLine(path: path, line: 0, reason: "cannot read the file")
        }
        var items: [Item] = [], skipped: [BadLine] = []
        var number = 0
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            number += 1
            if let limit, items.count >= limit { break }
            let bytes = raw.last == 0x0D ? raw.dropLast() : raw[...]
            var problem: String?
            if let line = String(validating: bytes, as: UTF8.self) {
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                do {
                    if let item = try parse(line, number) { items.append(item) }
                } catch let p as Problem {
                    problem = p.reason
                }
            } else {
                problem = "not valid UTF-8"
            }
            guard let problem else { continue }
            let bad = BadLine(path: path, line: number, reason: problem)
            guard skipBadLines else { throw bad }
            skipped.append(bad)
        }
        return (items, skipped)
    }

    /// The line as a JSON object (JSONSerialization's), or a Problem.
    public static func object(_ line: String) throws -> [String: Any] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            throw Problem("not a JSON object")
        }
        return object
    }
}
