// `hayai data build`, `hayai tokenizer train --tokenize` and their errors, run as a user would.
import XCTest
import Foundation
import Corpus
import TestSupport

final class DataCLITests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-data-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func testBuildTrainTokenizeFromATextFile() throws {
        var text = ""
        for i in 0..<200 { text += "Paragraph \(i) of an English story, with words repeated \(i % 7) times.\nそして日本語の段落 \(i) もあります。\n<|endoftext|>\n" }
        let input = scratch.appendingPathComponent("story.txt")
        try Data(text.utf8).write(to: input)
        let corpus = scratch.appendingPathComponent("corpus").path
        let build = try HayaiBinary.run(["data", "build", "--text", input.path, "--out", corpus, "--val-fraction", "0.05"])
        XCTAssertEqual(build.status, 0, build.stderr)
        XCTAssertTrue(build.stdout.contains("train"), build.stdout)
        let train = try HayaiBinary.run(["tokenizer", "train", "--corpus", corpus, "--vocab-size", "600", "--min-frequency", "1", "--tokenize"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let manifest = try CorpusManifest.load(corpus: corpus)
        // A repetitive text runs out of pairs to merge before 600 tokens; the size is a ceiling.
        XCTAssertLessThanOrEqual(manifest.tokenizer?.vocabSize ?? 0, 600)
        XCTAssertGreaterThan(manifest.tokenizer?.vocabSize ?? 0, 263 + 100)
        XCTAssertGreaterThan(manifest.splits["train"]!.tokens ?? 0, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: corpus + "/tokens/train_000000.bin"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: corpus + "/tokens/val_000000.bin"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: corpus + "/tokenizer/tokenizer.json"))
        let shard = try TokenShard(path: corpus + "/tokens/train_000000.bin")
        XCTAssertEqual(shard.count, manifest.splits["train"]!.tokens)
        // The tokenizer works with `hayai tokenize`.
        let ids = try HayaiBinary.run(["tokenize", corpus + "/tokenizer", "--text", "<|endoftext|>Paragraph", "--json"])
        XCTAssertEqual(ids.status, 0, ids.stderr)
        XCTAssertTrue(ids.stdout.hasPrefix("{\"ids\":[0,"), ids.stdout)
    }

    func testEmptyCorpusAndInvalidUTF8() throws {
        let empty = scratch.appendingPathComponent("empty.txt")
        try Data("\n\n".utf8).write(to: empty)
        let r = try HayaiBinary.run(["data", "build", "--text", empty.path, "--out", scratch.appendingPathComponent("c").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("corpus is empty"), r.stderr)
        XCTAssertTrue(r.stderr.contains("empty.txt"), r.stderr)

        let bad = scratch.appendingPathComponent("bad.txt")
        try Data(Array("a good line of text here\n".utf8) + [0xFF, 0x0A] + Array("another good line\n".utf8)).write(to: bad)
        let b = try HayaiBinary.run(["data", "build", "--text", bad.path, "--out", scratch.appendingPathComponent("c2").path])
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertTrue(b.stderr.contains("\(bad.path):2: invalid UTF-8"), b.stderr)

        let t = try HayaiBinary.run(["tokenizer", "train", "--corpus", scratch.appendingPathComponent("nope").path, "--vocab-size", "300"])
        XCTAssertEqual(t.status, 1)
        XCTAssertTrue(t.stderr.contains("manifest.json"), t.stderr)
    }
}
