// `hayai data build` (sources → a cleaned, deduplicated, split corpus with a manifest) and
// `hayai data tokenize` (a corpus → packed llm.c token shards).
import ArgumentParser
import Corpus
import Foundation
import Workbench

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Build and tokenize pretraining corpora.",
        subcommands: [DataBuildCommand.self, DataTokenizeCommand.self])
}

struct DataBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a corpus folder (train.jsonl, val.jsonl, manifest.json) from text sources.",
        discussion: """
        Sources: plain text files (--text; documents separated by lines holding only <|endoftext|>), JSONL \
        files (--jsonl with --field), and the default bilingual corpus (--source debian-default), assembled from \
        Debian packages with apt-get download and dpkg-deb -x, cached under HAYAI_CACHE (~/.cache/hayai). \
        With no source given, the default corpus is built. Documents are NFC-normalized and deduplicated; \
        invalid UTF-8 lines are reported as file:line and skipped. Sources that fail are reported and skipped.
        """)

    @Option(name: .long, help: "The corpus folder to write (default: WORKSPACE/corpus; WORKSPACE is $HAYAI_HOME or ./hayai-runs).")
    var out: String?

    var outFolder: String { out ?? Workspace.path("corpus") }

    @Option(name: .long, help: "A named source: debian-default (the bilingual Debian corpus).")
    var source: [String] = []

    @Option(name: .long, help: "A UTF-8 text file (repeatable).")
    var text: [String] = []

    @Option(name: .long, help: "A JSONL file with one document per line (repeatable).")
    var jsonl: [String] = []

    @Option(name: .long, help: "The JSONL field holding the text.")
    var field: String = "text"

    @Option(name: .long, help: "The fraction of documents held out for validation.")
    var valFraction: Double = 0.01

    @Option(name: .long, help: "Cap the corpus at this many bytes of text, shared fairly between sources.")
    var maxBytes: Int?

    @Option(name: .long, help: "Seed for the split and the byte-cap sample.")
    var seed: UInt64 = 1234

    @Option(name: .long, help: "Only these sources of debian-default, by name (repeatable; e.g. jargon-text).")
    var only: [String] = []

    func validate() throws {
        guard (0..<1).contains(valFraction) else { throw ValidationError("--val-fraction must be in [0, 1)") }
        if let m = maxBytes, m < 1 { throw ValidationError("--max-bytes must be positive") }
        for s in source where s != "debian-default" {
            throw ValidationError("unknown --source '\(s)' (known: debian-default)")
        }
    }

    func run() throws {
        var sources: [CorpusSource] = []
        var useDefault = source.contains("debian-default") || (text.isEmpty && jsonl.isEmpty)
        if !only.isEmpty { useDefault = true }
        if useDefault {
            let all = DefaultCorpus.sources
            let picked = only.isEmpty ? all : all.filter { only.contains($0.name) || only.contains($0.package) }
            if !only.isEmpty && picked.isEmpty {
                throw UserError("--only matches no default source (known: \(all.map(\.name).joined(separator: ", ")))")
            }
            sources += picked as [CorpusSource]
        }
        sources += text.map { TextFileSource(path: $0) as CorpusSource }
        sources += jsonl.map { JSONLSource(path: $0, field: field) as CorpusSource }

        var options = CorpusBuildOptions()
        options.valFraction = valFraction
        options.maxBytes = maxBytes
        options.seed = seed
        let context = SourceContext(cacheFolder: DefaultCorpus.cacheFolder, log: { CLI.printError($0) })
        let started = Date()
        let manifest: CorpusManifest
        do { manifest = try CorpusBuilder.build(sources: sources, into: outFolder, options: options, context: context) } catch let e as CorpusError {
            throw UserError(e.description)
        }
        let train = manifest.splits["train"]!, val = manifest.splits["val"]!
        print("corpus \(outFolder): \(manifest.sources.count) sources, train \(train.documents) documents / \(train.bytes) bytes, val \(val.documents) documents / \(val.bytes) bytes (\(CLI.fixed(Date().timeIntervalSince(started))) s)")
        for s in manifest.sources {
            print("  \(s.name)\(s.packageVersion.map { " \($0)" } ?? ""): \(s.documents) documents, \(s.bytes) bytes; licence: \(s.licence)")
        }
        for f in manifest.failedSources { print("  skipped \(f.name): \(f.error)") }
    }
}

struct DataTokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Tokenize a corpus into packed llm.c shards (DIR/tokens/train_000000.bin, val_000000.bin).",
        discussion: "Each document is preceded by <|endoftext|>; the manifest records token counts per split.")

    @Option(name: .long, help: "The corpus folder (from `hayai data build`).")
    var corpus: String

    @Option(name: .long, help: "A tokenizer folder (tokenizer.json) or file.")
    var tokenizer: String

    @Option(name: .long, help: "Tokens per shard file.")
    var shardTokens: Int = 100_000_000

    func validate() throws {
        if shardTokens < 1 { throw ValidationError("--shard-tokens must be positive") }
    }

    func run() throws {
        try DataTokenizeCommand.tokenize(corpus: corpus, tokenizer: tokenizer, shardTokens: shardTokens)
    }

    static func tokenize(corpus: String, tokenizer: String, shardTokens: Int = 100_000_000) throws {
        let started = Date()
        do {
            let m = try CorpusTokenization.tokenize(corpus: corpus, tokenizerPath: tokenizer, shardTokens: shardTokens,
                                                    log: { CLI.printError($0) })
            let train = m.splits["train"]!, val = m.splits["val"]!
            print("tokens \(corpus)/\(CorpusTokenization.tokensFolder): train \(train.tokens ?? 0), val \(val.tokens ?? 0) (\(CLI.fixed(Date().timeIntervalSince(started))) s)")
        } catch let e as CorpusError {
            throw UserError(e.description)
        } catch let e as CustomStringConvertible & Error {
            throw UserError(e.description)
        }
    }
}
