// llm.c token shards: written and read back through mmap; bad files rejected with a clear error.
import XCTest
import Foundation
@testable import Corpus
import Tokenizers
import TestSupport

final class TokenShardTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-shards") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testUInt16ShardRoundTripAndHeader() throws {
        let tokens: [Int32] = [0, 5, 65535, 17, 0, 3]
        let path = scratch.appendingPathComponent("train_000000.bin").path
        try TokenShard.write(tokens, to: path, vocabularySize: 65536)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        XCTAssertEqual(data.count, 1024 + 2 * tokens.count)
        let header = data.withUnsafeBytes { Array($0.bindMemory(to: Int32.self).prefix(3)) }
        XCTAssertEqual(header, [20240520, 1, 6])
        let shard = try TokenShard(path: path)
        XCTAssertEqual(shard.count, 6)
        XCTAssertEqual(shard.version, 1)
        XCTAssertEqual(shard.tokens, tokens)
        XCTAssertEqual(shard[2], 65535)
        XCTAssertEqual(shard.tokens(1..<3), [5, 65535])
    }

    func testUInt32ShardForLargeVocabularies() throws {
        let tokens: [Int32] = [0, 70000, 100_000]
        let path = scratch.appendingPathComponent("val_000000.bin").path
        try TokenShard.write(tokens, to: path, vocabularySize: 128_000)
        let shard = try TokenShard(path: path)
        XCTAssertEqual(shard.version, 2)
        XCTAssertEqual(shard.tokens, tokens)
    }

    func testTruncatedOrForeignShardIsRejected() throws {
        let path = scratch.appendingPathComponent("bad.bin").path
        try TokenShard.write([1, 2, 3, 4] as [Int32], to: path, vocabularySize: 100)
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 2).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TokenShard(path: path)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        data[0] = 0
        try data.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try TokenShard(path: path)) { XCTAssertTrue("\($0)".contains("magic"), "\($0)") }
    }

    func testCorpusTokenizationWritesShardsSeparatedByEOS() throws {
        var text = ""
        for i in 0..<60 { text += "Document \(i): the quick brown fox \(i) jumps. 日本語の文書 \(i) です。\n<|endoftext|>\n" }
        let input = scratch.appendingPathComponent("in.txt")
        try Data(text.utf8).write(to: input)
        let folder = scratch.appendingPathComponent("corpus").path
        var options = CorpusBuildOptions()
        options.valFraction = 0.2
        try CorpusBuilder.build(sources: [TextFileSource(path: input.path)], into: folder, options: options,
                                context: SourceContext(cacheFolder: scratch) { _ in })
        let docs = try CorpusBuilder.documents(corpus: folder, split: "train")
        let trained = BPETrainer.train(documents: docs, options: BPETrainerOptions(vocabSize: 400))
        let tokenizerFolder = scratch.appendingPathComponent("tok").path
        try TokenizerJSONWriter.write(trained, to: tokenizerFolder)
        let m = try CorpusTokenization.tokenize(corpus: folder, tokenizerPath: tokenizerFolder, shardTokens: 500)
        let tokenizer = try TokenizerLoader.load(path: tokenizerFolder)
        var all: [Int32] = []
        for path in TokenShard.paths(in: folder + "/tokens", split: "train") { all += try TokenShard(path: path).tokens }
        XCTAssertGreaterThan(TokenShard.paths(in: folder + "/tokens", split: "train").count, 1)
        XCTAssertEqual(all.count, m.splits["train"]!.tokens)
        XCTAssertEqual(all.filter { $0 == 0 }.count, docs.count)
        XCTAssertEqual(all.first, 0)
        // Splitting on EOS gives back the documents.
        let decoded = all.split(separator: 0).map { tokenizer.decode($0.map(Int.init), skipSpecialTokens: false) }
        XCTAssertEqual(decoded, docs)
        XCTAssertEqual(m.tokenizer?.eosTokenID, 0)
        XCTAssertNotNil(m.splits["val"]!.tokens)
    }
}
