// The tokens a pretraining run reads, with the tokenizer that made them:
// - a corpus folder (`hayai data build`): CORPUS/tokens/train_*.bin and val_*.bin in llm.c's shard
//   format, the tokenizer in CORPUS/tokenizer/ or CORPUS/ (or given);
// - a plain UTF-8 text file and a tokenizer folder: documents are blocks separated by blank lines,
//   each followed by the end-of-text id, and the last 5% of the tokens are held out for validation.
// Lines of a text file that are not valid UTF-8 are skipped and reported as a warning (line
// numbers), not fatal: one bad line in a large scrape should not stop a run. A file with no
// valid text left is an error.
import Foundation
import Corpus
import Tokenizers

public struct PretrainData {
    public let train: TokenStream
    public let validation: TokenStream
    public let tokenizer: Tokenizer
    /// Where tokenizer.json (and tokenizer_config.json) come from; copied into every checkpoint.
    public let tokenizerFolder: String
    /// UTF-8 bytes each token id stands for (0 for special tokens): bits-per-byte's denominator.
    public let tokenByteCounts: [Int]
    /// Things the user should know that do not stop the run (skipped lines).
    public var warnings: [String] = []

    public static let validationFraction = 0.05

    init(train: TokenStream, validation: TokenStream, tokenizer: Tokenizer, tokenizerFolder: String, warnings: [String]) throws {
        self.train = train; self.validation = validation; self.tokenizer = tokenizer
        self.tokenizerFolder = tokenizerFolder; self.warnings = warnings
        tokenByteCounts = (0..<tokenizer.vocabularySize).map { tokenizer.isSpecial($0) ? 0 : tokenizer.tokenBytes($0).count }
        for stream in [train, validation] {
            if let bad = stream.firstOutOfRange(vocabSize: tokenizer.vocabularySize) {
                throw PretrainError.data(path: stream.source, what: "token \(bad.id) at \(bad.index) is outside the tokenizer's vocabulary (\(tokenizer.vocabularySize)); were the shards made with another tokenizer?")
            }
        }
    }

    // MARK: - A corpus folder

    public static func corpus(_ folder: String, tokenizerFolder: String? = nil) throws -> PretrainData {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDirectory) else { throw PretrainError.data(path: folder, what: "no such corpus folder") }
        guard isDirectory.boolValue else {
            throw PretrainError.data(path: folder, what: "not a corpus folder (for a text file use --text FILE --tokenizer DIR)")
        }
        let tokensDir = (folder as NSString).appendingPathComponent("tokens")
        let names = ((try? fm.contentsOfDirectory(atPath: tokensDir)) ?? []).sorted()
        func shards(_ prefix: String) throws -> [TokenShard] {
            try names.filter { $0.hasPrefix(prefix + "_") && $0.hasSuffix(".bin") }
                .map { try TokenShard(path: (tokensDir as NSString).appendingPathComponent($0)) }
        }
        let trainShards = try shards("train"), valShards = try shards("val")
        guard !trainShards.isEmpty else {
            throw PretrainError.data(path: tokensDir, what: "no train_*.bin token shards (build the corpus with `hayai data build`)")
        }
        var train = TokenStream(shards: trainShards)
        guard train.count > 0 else { throw PretrainError.data(path: tokensDir, what: "the corpus is empty (its train shards hold no tokens)") }
        var validation = TokenStream(shards: valShards)
        if validation.count == 0 {
            // No validation split: hold out the end of the training tokens.
            let cut = train.count - Int(Double(train.count) * validationFraction)
            validation = TokenStream(train, range: cut..<train.count)
            train = TokenStream(train, range: 0..<cut)
        }
        let tokFolder: String
        if let tokenizerFolder { tokFolder = tokenizerFolder } else {
            let candidates = [(folder as NSString).appendingPathComponent("tokenizer"), folder]
            guard let found = candidates.first(where: { fm.fileExists(atPath: ($0 as NSString).appendingPathComponent("tokenizer.json")) }) else {
                throw PretrainError.data(path: folder, what: "no tokenizer.json in the corpus (or its tokenizer/ folder); give --tokenizer DIR")
            }
            tokFolder = found
        }
        let tokenizer = try TokenizerLoader.load(folder: tokFolder)
        return try PretrainData(train: train, validation: validation, tokenizer: tokenizer, tokenizerFolder: tokFolder, warnings: [])
    }

    // MARK: - A text file

    /// `tokenizerFolder`: a folder with tokenizer.json, or a .gguf file whose vocabulary tokenizes (a --init base).
    public static func text(_ path: String, tokenizerFolder: String) throws -> PretrainData {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let bytes = FileManager.default.contents(atPath: path) else {
            throw PretrainError.data(path: path, what: "cannot read the text file")
        }
        let tokenizer = try TokenizerLoader.load(path: tokenizerFolder)
        guard let eos = tokenizer.eosTokenIDs.first ?? tokenizer.tokenID("<|endoftext|>") else {
            throw PretrainError.data(path: tokenizerFolder, what: "the tokenizer has no end-of-text token to separate documents")
        }
        let (documents, badLines) = splitDocuments(bytes)
        var warnings: [String] = []
        if !badLines.isEmpty {
            let shown = badLines.prefix(5).map(String.init).joined(separator: ", ")
            warnings.append("\(path): skipped \(badLines.count) line\(badLines.count == 1 ? "" : "s") that \(badLines.count == 1 ? "is" : "are") not valid UTF-8 (line \(shown)\(badLines.count > 5 ? ", …" : ""))")
        }
        guard !documents.isEmpty else {
            throw PretrainError.data(path: path, what: badLines.isEmpty ? "the text is empty" : "no valid UTF-8 text (every non-blank line is invalid)")
        }
        var tokens: [Int] = []
        for doc in documents {
            tokens.append(contentsOf: tokenizer.encode(doc, addSpecialTokens: false))
            tokens.append(eos)
        }
        let cut = tokens.count - Int(Double(tokens.count) * validationFraction)
        let source = "\(path) (tokenized)"
        return try PretrainData(train: TokenStream(tokens: Array(tokens[..<cut]), source: source),
                                validation: TokenStream(tokens: Array(tokens[cut...]), source: source),
                                tokenizer: tokenizer, tokenizerFolder: tokenizerFolder, warnings: warnings)
    }

    /// Blocks of lines separated by blank lines; lines that are not valid UTF-8 are left out and
    /// their (1-based) numbers returned.
    static func splitDocuments(_ bytes: Data) -> (documents: [String], badLines: [Int]) {
        var documents: [String] = [], current: [String] = [], bad: [Int] = []
        var lineNumber = 0
        func flush() {
            if !current.isEmpty { documents.append(current.joined(separator: "\n")) }
            current.removeAll()
        }
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            var slice = line
            if slice.last == 0x0D { slice = slice.dropLast() }
            guard let text = String(validating: slice, as: UTF8.self) else { bad.append(lineNumber); continue }
            if text.allSatisfy(\.isWhitespace) { flush() } else { current.append(text) }
        }
        flush()
        return (documents, bad)
    }
}
