// `hayai data tokenize`: each split's documents encoded with a trained tokenizer (both cores) and
// packed into llm.c shards under DIR/tokens, each document preceded by <|endoftext|>; the manifest
// records the tokenizer and each split's token count next to its bytes (for bits per byte).
import Foundation
import Tokenizers

public enum CorpusTokenization {
    public static let tokensFolder = "tokens"
    public static let eosToken = "<|endoftext|>"
    /// Tokens per shard file (llm.c writes 100M).
    public static let defaultShardTokens = 100_000_000

    @discardableResult
    public static func tokenize(corpus folder: String, tokenizerPath: String, shardTokens: Int = defaultShardTokens,
                                log: (String) -> Void = { _ in }) throws -> CorpusManifest {
        var manifest = try CorpusManifest.load(corpus: folder)
        let tokenizer = try TokenizerLoader.load(path: tokenizerPath)
        guard let eos = tokenizer.tokenID(eosToken) ?? tokenizer.eosTokenIDs.first else {
            throw CorpusError.sourceFailed(name: tokenizerPath, reason: "the tokenizer has no \(eosToken) (EOS) token to separate documents")
        }
        let out = URL(fileURLWithPath: folder).appendingPathComponent(tokensFolder)
        try? FileManager.default.removeItem(at: out)
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw CorpusError.unwritable(path: out.path, reason: error.localizedDescription)
        }
        for split in ["train", "val"] {
            guard manifest.splits[split] != nil else { continue }
            let docs = try CorpusBuilder.documents(corpus: folder, split: split)
            let started = Date()
            let tokens = encode(docs, tokenizer: tokenizer, eos: Int32(eos))
            var shards: [String] = []
            var start = 0, index = 0
            repeat {
                let end = min(tokens.count, start + max(1, shardTokens))
                let name = String(format: "%@_%06d.bin", split, index)
                try TokenShard.write(tokens[start..<end], to: out.appendingPathComponent(name).path, vocabularySize: tokenizer.vocabularySize)
                shards.append("\(tokensFolder)/\(name)")
                start = end; index += 1
            } while start < tokens.count
            manifest.splits[split]!.tokens = tokens.count
            manifest.splits[split]!.shards = shards
            let bytes = manifest.splits[split]!.bytes
            log("  \(split): \(docs.count) documents, \(tokens.count) tokens, \(String(format: "%.2f", Double(bytes) / Double(max(1, tokens.count - docs.count)))) bytes/token (\(String(format: "%.1f", Date().timeIntervalSince(started))) s)")
        }
        manifest.tokenizer = .init(path: URL(fileURLWithPath: tokenizerPath).standardizedFileURL.path,
                                   vocabSize: tokenizer.vocabularySize, eosTokenID: eos)
        try manifest.write(corpus: folder)
        return manifest
    }

    /// EOS, then the document's tokens, for each document; special-token text inside a document is
    /// encoded as plain text, never as a control token.
    public static func encode(_ docs: [String], tokenizer: Tokenizer, eos: Int32) -> [Int32] {
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, docs.count))
        var parts = [[Int32]](repeating: [], count: workers)
        parts.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var local: [Int32] = []
                var i = w * docs.count / workers
                let end = (w + 1) * docs.count / workers
                while i < end {
                    local.append(eos)
                    let ids = (tokenizer as? ByteLevelBPETokenizer)?.encode(docs[i], addSpecialTokens: false, parseSpecial: false)
                        ?? tokenizer.encode(docs[i], addSpecialTokens: false)
                    for id in ids { local.append(Int32(id)) }
                    i += 1
                }
                (base + w).pointee = local
            }
        }
        return parts.flatMap { $0 }
    }
}
