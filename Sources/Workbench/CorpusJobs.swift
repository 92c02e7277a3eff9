// `hayai data build`, `hayai data tokenize` and `hayai tokenizer train` as library calls: each returns
// what it made and the lines that say so; the commands and the quickstart's first stages print them.
import Foundation
import Basics
import Corpus
import Tokenizers

public struct CorpusBuildRequest {
    public var out: String
    /// Include the default bilingual Debian corpus (or only these of its sources, by name or package).
    public var useDefault = false
    public var only: [String] = []
    public var textFiles: [String] = []
    public var jsonlFiles: [String] = []
    public var field = "text"
    public var valFraction = 0.01
    public var maxBytes: Int?
    public var seed: UInt64 = 1234

    public init(out: String) { self.out = out }
}

public enum CorpusJobs {
    /// Builds the corpus folder; `log` gets the per-source lines said while building (downloads, skipped lines).
    public static func build(_ request: CorpusBuildRequest, log: @escaping (String) -> Void) throws -> [String] {
        var sources: [CorpusSource] = []
        if request.useDefault || !request.only.isEmpty || (request.textFiles.isEmpty && request.jsonlFiles.isEmpty) {
            let all = DefaultCorpus.sources
            let picked = request.only.isEmpty ? all : all.filter { request.only.contains($0.name) || request.only.contains($0.package) }
            if !request.only.isEmpty && picked.isEmpty {
                throw WorkbenchError.invalid("--only matches no default source (known: \(all.map(\.name).joined(separator: ", ")))")
            }
            sources += picked as [CorpusSource]
        }
        sources += request.textFiles.map { TextFileSource(path: $0) as CorpusSource }
        sources += request.jsonlFiles.map { JSONLSource(path: $0, field: request.field) as CorpusSource }

        var options = CorpusBuildOptions()
        options.valFraction = request.valFraction
        options.maxBytes = request.maxBytes
        options.seed = request.seed
        let context = SourceContext(cacheFolder: DefaultCorpus.cacheFolder, log: log)
        let started = Date()
        let manifest: CorpusManifest
        do { manifest = try CorpusBuilder.build(sources: sources, into: request.out, options: options, context: context) } catch let e as CorpusError {
            throw WorkbenchError.invalid(e.description)
        }
        let train = manifest.splits["train"]!, val = manifest.splits["val"]!
        var lines = ["corpus \(request.out): \(manifest.sources.count) sources, train \(train.documents) documents / \(train.bytes) bytes, "
                     + "val \(val.documents) documents / \(val.bytes) bytes (\(seconds(since: started)) s)"]
        for s in manifest.sources {
            lines.append("  \(s.name)\(s.packageVersion.map { " \($0)" } ?? ""): \(s.documents) documents, \(s.bytes) bytes; licence: \(s.licence)")
        }
        for f in manifest.failedSources { lines.append("  skipped \(f.name): \(f.error)") }
        return lines
    }

    /// Packs the corpus's splits into llm.c token shards; returns the line that says how many tokens.
    public static func tokenize(corpus: String, tokenizer: String, shardTokens: Int = 100_000_000,
                                log: @escaping (String) -> Void) throws -> String {
        let started = Date()
        do {
            let m = try CorpusTokenization.tokenize(corpus: corpus, tokenizerPath: tokenizer, shardTokens: shardTokens, log: log)
            let train = m.splits["train"]!, val = m.splits["val"]!
            return "tokens \(corpus)/\(CorpusTokenization.tokensFolder): train \(train.tokens ?? 0), val \(val.tokens ?? 0) (\(seconds(since: started)) s)"
        } catch let e as CorpusError {
            throw WorkbenchError.invalid(e.description)
        } catch let e as CustomStringConvertible & Error {
            throw WorkbenchError.invalid(e.description)
        }
    }

    /// A corpus's training split, one string a document.
    public static func trainingDocuments(corpus: String) throws -> [String] {
        do { return try CorpusBuilder.documents(corpus: corpus, split: "train") } catch let e as CorpusError {
            throw WorkbenchError.invalid(e.description)
        }
    }

    /// Trains a byte-level BPE tokenizer on `documents` (read from `source`) and writes it to `out`.
    public static func trainTokenizer(documents: [String], source: String, vocabSize: Int, minFrequency: Int = 2, out: String) throws -> String {
        let bytes = documents.reduce(0) { $0 + $1.utf8.count }
        guard bytes > 0 else { throw WorkbenchError.invalid("\(source): no text to train on") }
        let started = Date()
        let trained = BPETrainer.train(documents: documents, options: BPETrainerOptions(vocabSize: vocabSize, minFrequency: minFrequency))
        let took = seconds(since: started, digits: 2)
        do { try TokenizerJSONWriter.write(trained, to: out) } catch {
            throw WorkbenchError.invalid("\(out): cannot write the tokenizer: \(error.localizedDescription)")
        }
        let note = trained.tokens.count < vocabSize ? " (stopped early: no pair left with frequency ≥ \(minFrequency))" : ""
        return "tokenizer \(out): \(trained.tokens.count) tokens, \(trained.merges.count) merges from \(bytes) bytes, "
            + "\(trained.distinctWords) distinct words (\(took) s)\(note)"
    }

    static func seconds(since start: Date, digits: Int = 1) -> String {
        String(format: "%.\(digits)f", Date().timeIntervalSince(start))
    }
}
