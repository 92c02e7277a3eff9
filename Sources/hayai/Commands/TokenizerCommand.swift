// `hayai tokenizer train`: a byte-level BPE vocabulary trained on a corpus or a text file, written as
// a standard Hugging Face tokenizer.json + tokenizer_config.json.
import ArgumentParser
import Corpus
import Foundation
import Workbench
import Tokenizers

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Train tokenizers.",
        subcommands: [TokenizerTrainCommand.self])
}

struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer and write tokenizer.json.",
        discussion: """
        GPT-2/NeoX style: a 256-byte alphabet, the GPT-2 pre-tokenizer, NFC normalization. Ids 0 and 1 are \
        <|endoftext|> and <|padding|>; <|im_start|>, <|im_end|>, <|user|>, <|assistant|>, <|system|> follow. \
        With --corpus the training split is used, and --tokenize also writes the corpus's token shards.
        """)

    @Option(name: .long, help: "A corpus folder from `hayai data build`.")
    var corpus: String?

    @Option(name: .long, help: "A UTF-8 text file to train on (instead of --corpus).")
    var text: String?

    @Option(name: .long, help: "Vocabulary size, special tokens and the 256 bytes included.")
    var vocabSize: Int

    @Option(name: .long, help: "The tokenizer folder to write (default: CORPUS/tokenizer, or WORKSPACE/tokenizer; WORKSPACE is $HAYAI_HOME or ./hayai-runs).")
    var out: String?

    @Option(name: .long, help: "Pairs seen fewer times than this are not merged.")
    var minFrequency: Int = 2

    @Flag(help: "Also tokenize the corpus into packed shards (needs --corpus).")
    var tokenize = false

    func validate() throws {
        guard (corpus == nil) != (text == nil) else { throw ValidationError("give exactly one of --corpus DIR or --text FILE") }
        let minimum = BPETrainer.defaultSpecialTokens.count + 256
        guard vocabSize >= minimum else { throw ValidationError("--vocab-size must be at least \(minimum) (special tokens + 256 bytes)") }
        guard vocabSize <= 1 << 24 else { throw ValidationError("--vocab-size is too large") }
        guard minFrequency >= 1 else { throw ValidationError("--min-frequency must be at least 1") }
        if tokenize && corpus == nil { throw ValidationError("--tokenize needs --corpus") }
    }

    func run() throws {
        let documents = try corpus.map { try CorpusJobs.trainingDocuments(corpus: $0) } ?? [try CLI.readText(file: text!)]
        let folder = out ?? (corpus.map { URL(fileURLWithPath: $0).appendingPathComponent("tokenizer").path } ?? Workspace.path("tokenizer"))
        print(try CorpusJobs.trainTokenizer(documents: documents, source: corpus ?? text!, vocabSize: vocabSize, minFrequency: minFrequency, out: folder))
        if tokenize, let corpus { print(try CorpusJobs.tokenize(corpus: corpus, tokenizer: folder, log: { CLI.printError($0) })) }
    }
}
