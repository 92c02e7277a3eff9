// Where corpus text comes from: plain text files, JSONL files with a text field, and Debian packages
// (DebianSources.swift). A source yields raw documents and the manifest record that describes it;
// cleaning and deduplication happen later, the same for all.
import Basics
import Foundation

public protocol CorpusSource {
    var name: String { get }
    func load(_ context: SourceContext) throws -> LoadedSource
}

public struct LoadedSource {
    public var record: CorpusManifest.SourceRecord
    public var documents: [String]
    public init(record: CorpusManifest.SourceRecord, documents: [String]) {
        self.record = record
        self.documents = documents
    }
}

/// What sources share: the download cache and the place problems are reported.
public final class SourceContext {
    public let cacheFolder: URL
    public let log: (String) -> Void
    /// Report at most this many invalid lines per source by file:line (the count is always exact).
    public var reportLimit = 50

    public init(cacheFolder: URL, log: @escaping (String) -> Void) {
        self.cacheFolder = cacheFolder
        self.log = log
    }

    /// Reads a file as UTF-8, dropping invalid lines; each is reported as `file:line` and counted.
    public func readText(_ path: String, html: Bool = false, into record: inout CorpusManifest.SourceRecord) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError.unreadable(path: path, reason: "no such file or not readable")
        }
        let decoded = html ? TextDecoding.decodeHTML(data) : TextDecoding.decodeUTF8Lines(data)
        for line in decoded.invalidLines {
            if record.invalidUTF8Lines < reportLimit { log("warning: \(path):\(line): invalid UTF-8, line skipped") }
            else if record.invalidUTF8Lines == reportLimit { log("warning: \(record.name): more invalid UTF-8 lines, counted in the manifest") }
            record.invalidUTF8Lines += 1
        }
        return decoded.text
    }
}

/// A plain text file: one document, or several separated by lines holding only `<|endoftext|>`
/// (or a form feed).
public struct TextFileSource: CorpusSource {
    public static let documentSeparators: Set<String> = ["<|endoftext|>", "\u{0C}"]
    public var path: String
    public var licence: String
    public var name: String { URL(fileURLWithPath: path).lastPathComponent }

    public init(path: String, licence: String = "unknown (user-supplied file)") {
        self.path = path
        self.licence = licence
    }

    public func load(_ context: SourceContext) throws -> LoadedSource {
        var record = CorpusManifest.SourceRecord(name: name, kind: "text-file", licence: licence, path: path)
        let text = try context.readText(path, into: &record)
        var documents: [String] = []
        var current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if Self.documentSeparators.contains(line.trimmingCharacters(in: .whitespaces)) {
                documents.append(current.joined(separator: "\n")); current.removeAll()
            } else { current.append(line) }
        }
        documents.append(current.joined(separator: "\n"))
        record.rawDocuments = documents.count
        return LoadedSource(record: record, documents: documents)
    }
}

/// A JSONL file: each line an object whose `field` is a document's text. Lines that are not valid
/// UTF-8 or not such an object are reported by file:line and skipped.
public struct JSONLSource: CorpusSource {
    public var path: String
    public var field: String
    public var licence: String
    public var name: String { URL(fileURLWithPath: path).lastPathComponent }

    public init(path: String, field: String = "text", licence: String = "unknown (user-supplied file)") {
        self.path = path
        self.field = field
        self.licence = licence
    }

    public func load(_ context: SourceContext) throws -> LoadedSource {
        var record = CorpusManifest.SourceRecord(name: name, kind: "jsonl", licence: licence, path: path)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError.unreadable(path: path, reason: "no such file or not readable")
        }
        // A source's bad lines are skipped and reported (as every source problem is), counted by kind.
        let (documents, skipped) = try JSONLines.read(path: path, data: data, skipBadLines: true) { line, _ -> String? in
            guard let text = (try JSONLines.object(line))[field] as? String else {
                throw JSONLines.Problem("not a JSON object with a string field '\(field)'")
            }
            return text
        }
        for (i, bad) in skipped.enumerated() {
            let utf8 = bad.reason == "not valid UTF-8"
            if utf8 { record.invalidUTF8Lines += 1 } else { record.malformedLines += 1 }
            if i < context.reportLimit { context.log("warning: \(bad.path):\(bad.line): \(utf8 ? "invalid UTF-8" : bad.reason), line skipped") }
        }
        record.rawDocuments = documents.count
        return LoadedSource(record: record, documents: documents)
    }
}
