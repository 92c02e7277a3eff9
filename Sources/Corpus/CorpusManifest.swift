// manifest.json: what a corpus folder holds and where it came from — each source with its licence
// and counts, the two splits with their bytes (and tokens once tokenized, for bits per byte).
import Foundation

public struct CorpusManifest: Codable, Equatable {
    public static let fileName = "manifest.json"

    public var format = "hayai-corpus"
    public var version = 1
    public var created: String
    public var seed: UInt64
    public var valFraction: Double
    public var maxBytes: Int?
    /// How documents were cleaned: "NFC", and the dedup rules.
    public var normalization: String = "NFC; LF line ends; control characters removed; trailing spaces trimmed"
    public var deduplication: String
    public var sources: [SourceRecord]
    /// Sources that could not be read, with the reason (the build goes on without them).
    public var failedSources: [FailedSource]
    public var splits: [String: SplitRecord]
    public var tokenizer: TokenizerRecord?

    public struct SourceRecord: Codable, Equatable {
        public var name: String
        /// "debian-package", "text-file" or "jsonl".
        public var kind: String
        public var language: String?
        public var licence: String
        public var path: String?
        public var package: String?
        public var packageVersion: String?
        public var copyrightFile: String?
        /// Documents and UTF-8 bytes that made it into the corpus.
        public var documents: Int = 0
        public var bytes: Int = 0
        /// Documents read before cleaning, deduplication and the byte cap.
        public var rawDocuments: Int = 0
        public var invalidUTF8Lines: Int = 0
        public var malformedLines: Int = 0
        public var duplicateDocuments: Int = 0
        public var duplicateParagraphs: Int = 0
        public var droppedByByteCap: Int = 0
    }

    public struct FailedSource: Codable, Equatable {
        public var name: String
        public var error: String
    }

    public struct SplitRecord: Codable, Equatable {
        /// The JSONL file of documents, relative to the corpus folder.
        public var file: String
        public var documents: Int
        /// UTF-8 bytes of the documents' text (no separators): the denominator of bits per byte.
        public var bytes: Int
        /// Tokens in the shards, EOS separators included, once tokenized.
        public var tokens: Int?
        public var shards: [String]?
    }

    public struct TokenizerRecord: Codable, Equatable {
        public var path: String
        public var vocabSize: Int
        public var eosTokenID: Int
    }

    public static func load(corpus folder: String) throws -> CorpusManifest {
        let path = URL(fileURLWithPath: folder).appendingPathComponent(fileName).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError.badManifest(path: folder, reason: "no \(fileName) (build one with `hayai data build`)")
        }
        do { return try JSONDecoder().decode(CorpusManifest.self, from: data) } catch {
            throw CorpusError.badManifest(path: path, reason: "\(error)")
        }
    }

    /// Writes manifest.json atomically (temporary name, then rename).
    public func write(corpus folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let url = URL(fileURLWithPath: folder).appendingPathComponent(Self.fileName)
        do { try encoder.encode(self).write(to: url, options: .atomic) } catch {
            throw CorpusError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }
}
