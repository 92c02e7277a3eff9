// `hayai data build`: sources → cleaned, deduplicated documents → a byte cap shared fairly between
// sources → a seeded train/validation split → train.jsonl, val.jsonl and manifest.json.
//
// Deduplication is exact at two levels, on whitespace-insensitive keys: whole documents (the
// first source to bring one keeps it), then paragraphs of 64 bytes or more seen before anywhere
// (licence blurbs, "see also" footers and translation credits that man pages and HTML pages
// repeat) — the paragraph-level pass catches most near-duplicates that differ only in boilerplate.
import Basics
import Foundation

public struct CorpusBuildOptions {
    public var valFraction: Double = 0.01
    public var maxBytes: Int? = nil
    public var seed: UInt64 = 1234
    /// Documents shorter than this after cleaning are dropped (navigation-only pages, empty stubs).
    public var minDocumentBytes = 16
    /// Paragraphs at least this long are deduplicated across the corpus.
    public var minParagraphBytesForDedup = 64
    public init() {}
}

public enum CorpusBuilder {
    public static let trainFile = "train.jsonl"
    public static let valFile = "val.jsonl"

    @discardableResult
    public static func build(sources: [CorpusSource], into folder: String, options: CorpusBuildOptions,
                             context: SourceContext) throws -> CorpusManifest {
        var records: [CorpusManifest.SourceRecord] = []
        var failed: [CorpusManifest.FailedSource] = []
        var documentsBySource: [[String]] = []
        var seenDocuments = Set<Fingerprint>(), seenParagraphs = Set<Fingerprint>()

        for source in sources {
            let started = Date()
            let loaded: LoadedSource
            do { loaded = try source.load(context) } catch {
                context.log("warning: source \(source.name) skipped: \(error)")
                failed.append(.init(name: source.name, error: "\(error)"))
                continue
            }
            var record = loaded.record
            let cleaned = cleanConcurrently(loaded.documents)
            var kept: [String] = []
            for doc in cleaned where doc.utf8.count >= options.minDocumentBytes {
                guard seenDocuments.insert(Fingerprint(TextNormalization.dedupKey(Substring(doc)))).inserted else {
                    record.duplicateDocuments += 1; continue
                }
                var paragraphs: [Substring] = []
                var dropped = false
                for p in doc.split(separator: "\n\n", omittingEmptySubsequences: true) {
                    if p.utf8.count >= options.minParagraphBytesForDedup,
                       !seenParagraphs.insert(Fingerprint(TextNormalization.dedupKey(p))).inserted {
                        record.duplicateParagraphs += 1; dropped = true; continue
                    }
                    paragraphs.append(p)
                }
                let text = !dropped ? doc : paragraphs.joined(separator: "\n\n")
                if text.utf8.count >= options.minDocumentBytes { kept.append(text) }
            }
            if kept.isEmpty {
                context.log("warning: source \(source.name) has no text left after cleaning")
                failed.append(.init(name: source.name, error: "no text left after cleaning and deduplication"))
                continue
            }
            context.log("  \(source.name): \(kept.count) documents, \(formatBytes(kept.reduce(0) { $0 + $1.utf8.count })) (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
            records.append(record)
            documentsBySource.append(kept)
        }
        guard !documentsBySource.isEmpty else {
            let reasons = failed.map { "\($0.name): \($0.error)" }.joined(separator: "; ")
            throw CorpusError.emptyCorpus(reason: failed.isEmpty ? "no sources given" : "no source yielded text (\(reasons))")
        }

        // The byte cap: each source gets an equal share; what a small source leaves goes to the rest.
        if let cap = options.maxBytes {
            let order = documentsBySource.indices.sorted { total(documentsBySource[$0]) < total(documentsBySource[$1]) }
            var remaining = cap
            for (k, s) in order.enumerated() {
                let share = remaining / (order.count - k)
                var rng = SeededRandom(seed: options.seed &+ UInt64(s))
                var picked: [Int] = [], used = 0
                for i in shuffledIndices(documentsBySource[s].count, &rng) {
                    let n = documentsBySource[s][i].utf8.count
                    if used + n <= share { picked.append(i); used += n }
                    if share - used < options.minDocumentBytes { break }
                }
                records[s].droppedByByteCap = documentsBySource[s].count - picked.count
                documentsBySource[s] = picked.sorted().map { documentsBySource[s][$0] }
                remaining -= used
            }
        }

        // Seeded split by each document's fingerprint; output order is a seeded shuffle.
        var train: [(String, Int)] = [], val: [(String, Int)] = []
        for (s, docs) in documentsBySource.enumerated() {
            records[s].documents = docs.count
            records[s].bytes = total(docs)
            for doc in docs {
                let h = Fingerprint(doc).mixed(with: options.seed)
                if Double(h >> 11) / Double(1 << 53) < options.valFraction { val.append((doc, s)) } else { train.append((doc, s)) }
            }
        }
        if options.valFraction > 0 && val.isEmpty {
            // Too few documents for the fraction to pick one: hold out the last paragraphs of the largest.
            if train.count >= 2 {
                val.append(train.removeLast())
            } else if let (doc, s) = train.first {
                let paragraphs = doc.split(separator: "\n\n")
                if paragraphs.count >= 2 {
                    let held = max(1, Int((Double(paragraphs.count) * options.valFraction).rounded()))
                    train[0] = (paragraphs.dropLast(held).joined(separator: "\n\n"), s)
                    val.append((paragraphs.suffix(held).joined(separator: "\n\n"), s))
                }
            }
        }
        guard !train.isEmpty else { throw CorpusError.emptyCorpus(reason: "no documents left for the training split") }
        var rng = SeededRandom(seed: options.seed)
        train = shuffledIndices(train.count, &rng).map { train[$0] }
        val = shuffledIndices(val.count, &rng).map { val[$0] }

        let fm = FileManager.default
        do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw CorpusError.unwritable(path: folder, reason: error.localizedDescription)
        }
        // Tokens of an earlier build no longer match the text.
        try? fm.removeItem(atPath: URL(fileURLWithPath: folder).appendingPathComponent(CorpusTokenization.tokensFolder).path)
        let names = records.map(\.name)
        try writeJSONL(train.map { ($0.0, names[$0.1]) }, to: URL(fileURLWithPath: folder).appendingPathComponent(trainFile))
        try writeJSONL(val.map { ($0.0, names[$0.1]) }, to: URL(fileURLWithPath: folder).appendingPathComponent(valFile))

        let manifest = CorpusManifest(
            created: ISO8601DateFormatter().string(from: Date()), seed: options.seed, valFraction: options.valFraction,
            maxBytes: options.maxBytes,
            deduplication: "exact documents and paragraphs of \(options.minParagraphBytesForDedup)+ bytes (whitespace-insensitive 128-bit hashes); documents under \(options.minDocumentBytes) bytes dropped",
            sources: records, failedSources: failed,
            splits: ["train": .init(file: trainFile, documents: train.count, bytes: train.reduce(0) { $0 + $1.0.utf8.count }),
                     "val": .init(file: valFile, documents: val.count, bytes: val.reduce(0) { $0 + $1.0.utf8.count })],
            tokenizer: nil)
        try manifest.write(corpus: folder)
        return manifest
    }

    /// The documents of a split ("train" or "val") of a built corpus, in file order.
    public static func documents(corpus folder: String, split: String) throws -> [String] {
        let manifest = try CorpusManifest.load(corpus: folder)
        guard let record = manifest.splits[split] else {
            throw CorpusError.badManifest(path: folder, reason: "no split '\(split)' in the manifest")
        }
        let path = URL(fileURLWithPath: folder).appendingPathComponent(record.file).path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CorpusError.unreadable(path: path, reason: "missing split file")
        }
        do {
            return try JSONLines.read(path: path, data: data, skipBadLines: false) { line, _ -> String? in
                guard let text = (try JSONLines.object(line))["text"] as? String else { throw JSONLines.Problem("not a JSON object with a 'text' string") }
                return text
            }.items
        } catch let bad as JSONLines.BadLine {
            throw CorpusError.unreadable(path: "\(bad.path):\(bad.line)", reason: bad.reason)
        }
    }

    // MARK: Helpers

    static func cleanConcurrently(_ documents: [String]) -> [String] {
        var cleaned = [String](repeating: "", count: documents.count)
        let chunks = max(1, min(64, documents.count / 16))
        cleaned.withUnsafeMutableBufferPointer { out in
            let base = out.baseAddress!
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                var i = c * documents.count / chunks
                let end = (c + 1) * documents.count / chunks
                while i < end { (base + i).pointee = TextNormalization.normalize(documents[i]); i += 1 }
            }
        }
        return cleaned
    }

    static func total(_ docs: [String]) -> Int { docs.reduce(0) { $0 + $1.utf8.count } }

    static func shuffledIndices(_ n: Int, _ rng: inout SeededRandom) -> [Int] {
        var idx = Array(0..<n)
        if n > 1 { for i in stride(from: n - 1, to: 0, by: -1) { idx.swapAt(i, Int(rng.next() % UInt64(i + 1))) } }
        return idx
    }

    static func writeJSONL(_ docs: [(String, String)], to url: URL) throws {
        var out = Data()
        out.reserveCapacity(docs.reduce(0) { $0 + $1.0.utf8.count + 40 })
        for (text, source) in docs {
            out.append(contentsOf: Array("{\"text\":".utf8))
            appendJSONString(text, to: &out)
            out.append(contentsOf: Array(",\"source\":".utf8))
            appendJSONString(source, to: &out)
            out.append(contentsOf: Array("}\n".utf8))
        }
        do { try out.write(to: url, options: .atomic) } catch {
            throw CorpusError.unwritable(path: url.path, reason: error.localizedDescription)
        }
    }

    static func appendJSONString(_ s: String, to out: inout Data) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(0x22)
        for b in s.utf8 {
            switch b {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0..<0x20: out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]])
            default: out.append(b)
            }
        }
        out.append(0x22)
    }

    static func formatBytes(_ n: Int) -> String {
        n >= 1 << 20 ? String(format: "%.2f MiB", Double(n) / Double(1 << 20)) : String(format: "%.1f KiB", Double(n) / 1024)
    }
}

/// A 128-bit fingerprint of text (two FNV-1a-64 passes with different offsets, finalized).
struct Fingerprint: Hashable {
    var a: UInt64, b: UInt64
    init(_ text: String) {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325, h2: UInt64 = 0x84222325_cbf29ce4
        for byte in text.utf8 {
            h1 = (h1 ^ UInt64(byte)) &* 0x100_0000_01b3
            h2 = (h2 ^ UInt64(byte)) &* 0x100_0000_01b3 &+ 0x9e37_79b9
        }
        a = SeededRandom.mix(h1); b = SeededRandom.mix(h2)
    }
    func mixed(with seed: UInt64) -> UInt64 { SeededRandom.mix(a ^ SeededRandom.mix(seed)) }
}

