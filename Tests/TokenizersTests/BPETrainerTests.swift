// Training a byte-level BPE: deterministic merges, the vocabulary size respected, special tokens as
// single ids, and the written tokenizer.json reloaded by TokenizerLoader (and by Hugging Face
// `tokenizers` when Python has it) encoding and decoding text exactly.
import XCTest
import Foundation
@testable import Tokenizers
import TestSupport

final class BPETrainerTests: XCTestCase {
    static let sample: [String] = {
        var docs: [String] = []
        for i in 0..<40 {
            docs.append("The quick brown fox jumps over the lazy dog \(i) times. The dog doesn't mind; it's lazy.\n  Indented line\twith a tab.")
            docs.append("吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。第\(i)章。")
            docs.append("def f(x): return x ** 2  # code, with    spaces; émigré café naïve")
        }
        return docs
    }()

    func testMergesAreDeterministicAndVocabularySizeIsRespected() {
        let a = BPETrainer.train(documents: Self.sample, options: BPETrainerOptions(vocabSize: 400))
        let b = BPETrainer.train(documents: Self.sample.reversed(), options: BPETrainerOptions(vocabSize: 400))
        XCTAssertEqual(a.tokens.count, 400)
        XCTAssertEqual(a.merges.count, 400 - 256 - BPETrainer.defaultSpecialTokens.count)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.merges.map { $0.0 + " " + $0.1 }, b.merges.map { $0.0 + " " + $0.1 })
        XCTAssertEqual(Array(a.tokens.prefix(7)), BPETrainer.defaultSpecialTokens)
        XCTAssertEqual(Set(a.tokens).count, a.tokens.count, "token strings are unique")
        // The first merge is the most frequent pair of the sample: "Ġ" + "t"/"h"-style pairs of English.
        XCTAssertTrue(a.tokens.contains("Ġthe") || a.tokens.contains("Ġdog"), "\(a.tokens.suffix(50))")
    }

    func testMinFrequencyStopsEarly() {
        let t = BPETrainer.train(documents: ["abcabc xyz"], options: BPETrainerOptions(vocabSize: 10_000, minFrequency: 2))
        XCTAssertLessThan(t.tokens.count, 10_000)
        XCTAssertTrue(t.tokens.contains("abc"), "\(t.merges)")
    }

    func trainedFolder(vocabSize: Int = 500) throws -> String {
        let folder = Fixtures.temporaryDirectory("hayai-bpe").path
        try TokenizerJSONWriter.write(BPETrainer.train(documents: Self.sample, options: BPETrainerOptions(vocabSize: vocabSize, minFrequency: 1)), to: folder)
        return folder
    }

    func testWrittenTokenizerRoundTripsThroughTheLoader() throws {
        let folder = try trainedFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tokenizer = try TokenizerLoader.load(path: folder)
        XCTAssertEqual(tokenizer.vocabularySize, 500)
        XCTAssertFalse(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.eosTokenIDs.first, 0)
        for text in Self.sample + ["unseen wörds 😀 and 新しい漢字、カタカナ。", "  leading spaces\n\n\ttabs", "x"] {
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), text)
        }
        XCTAssertLessThan(tokenizer.encode(Self.sample[0], addSpecialTokens: false).count, Self.sample[0].utf8.count / 2)
        for (id, special) in BPETrainer.defaultSpecialTokens.enumerated() {
            XCTAssertEqual(tokenizer.encode("a\(special)b", addSpecialTokens: false).filter { $0 == id }.count, 1, special)
            XCTAssertEqual(tokenizer.encode(special, addSpecialTokens: false), [id])
            XCTAssertTrue(tokenizer.isSpecial(id))
        }
        XCTAssertEqual(tokenizer.tokenID("<|padding|>"), 1)
    }

    /// Hugging Face `tokenizers` loads the file and gives the same ids (skipped when Python lacks it).
    func testHuggingFaceTokenizersGivesTheSameIDs() throws {
        let folder = try trainedFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let texts = Self.sample.prefix(6) + ["unseen wörds 😀 and 新しい漢字、カタカナ。<|im_start|>user\nhi<|im_end|>", "  two  spaces\n\nend"]
        let input = URL(fileURLWithPath: folder).appendingPathComponent("texts.json")
        try JSONSerialization.data(withJSONObject: Array(texts)).write(to: input)
        let script = """
        import json, sys
        try:
            from tokenizers import Tokenizer
        except ImportError:
            print("SKIP"); sys.exit(0)
        t = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")
        texts = json.load(open(sys.argv[2]))
        print(json.dumps([t.encode(x).ids for x in texts]))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, folder, input.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("python3 is not available") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if p.terminationStatus != 0 || text == "SKIP" || text.isEmpty {
            throw XCTSkip("Hugging Face tokenizers is not installed for python3 (pip install tokenizers)")
        }
        let hf = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [[Int]]
        let tokenizer = try TokenizerLoader.load(path: folder)
        for (k, t) in texts.enumerated() {
            XCTAssertEqual(tokenizer.encode(t, addSpecialTokens: true), hf[k], t)
        }
    }
}
