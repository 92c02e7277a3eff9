// The BPE merge loop: the heap used for long words merges exactly like the scan used for short ones.
import Foundation
import XCTest
@testable import Tokenizers
import Checkpoints
import TestSupport

final class LongWordTests: XCTestCase {
    func testHeapAndScanningMergesAgreeOnRealWords() throws {
        let gguf = try GGUFFile(url: Fixtures.data("vocab/ggml-vocab-gpt-2.gguf"))
        let tokens = try XCTUnwrap(gguf.stringArray("tokenizer.ggml.tokens"))
        let merges = try XCTUnwrap(gguf.stringArray("tokenizer.ggml.merges")).map { m -> (String, String) in
            let parts = m.split(separator: " ", maxSplits: 1)
            return (String(parts[0]), String(parts[1]))
        }
        let vocabulary = Dictionary(tokens.enumerated().map { ($1, $0) }, uniquingKeysWith: { $1 })
        let bpe = BPEMerges(merges, vocabulary: vocabulary)
        let byteIDs = (0..<256).map { Int32(vocabulary[ByteLevelAlphabet.encode([UInt8($0)])]!) }
        let words = ["Ġinternationalization", "ĠHello", "aaaaaaaaaaaaaaaaaaaa", "ĠåĲ¾è¼©ãģ¯çĮ«ãģ§ãģĤãĤĭ",
                     String(repeating: "Ġthe", count: 40), String(repeating: "x", count: 300)]
        for word in words {
            let symbols = ByteLevelAlphabet.decode(word)!.map { byteIDs[Int($0)] }
            var scanned = symbols, heaped = symbols
            bpe.applyByScanning(&scanned)
            bpe.applyWithHeap(&heaped)
            XCTAssertEqual(scanned, heaped, word)
        }
    }

    func testThirtyKilobyteWordEncodesQuicklyAndRoundTrips() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-2.gguf"))
        let word = String(repeating: "abcdefghij", count: 3000)
        let start = Date()
        let ids = tokenizer.encode(word, addSpecialTokens: false)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), word)
        XCTAssertLessThan(seconds, 5, "a 30 KB word took \(seconds) s")
    }
}
