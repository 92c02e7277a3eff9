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
        var request = CorpusBuildRequest(out: outFolder)
        request.useDefault = source.contains("debian-default")
        request.only = only
        request.textFiles = text; request.jsonlFiles = jsonl; request.field = field
        request.valFraction = valFraction; request.maxBytes = maxBytes; request.seed = seed
        for line in try CorpusJobs.build(request, log: { CLI.printError($0) }) { print(line) }
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
        print(try CorpusJobs.tokenize(corpus: corpus, tokenizer: tokenizer, shardTokens: shardTokens, log: { CLI.printError($0) }))
    }
}
