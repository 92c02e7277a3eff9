// The loader finds the tokenizer from any path a user would give, and a loaded tokenizer can be
// shared between threads (its word cache is locked).
import Foundation
import XCTest
import Tokenizers
import TestSupport

final class TokenizerLoaderTests: XCTestCase {
    func testLoadsFromFolderTokenizerJSONFileAndGGUFPath() throws {
        let text = "吾輩は猫である。 The cat's name?"
        let expected = try TokenizerFixtures.huggingFace("stablelm-tiny").encode(text, addSpecialTokens: true)
        for path in [Fixtures.fixture("stablelm-tiny").path, Fixtures.fixture("stablelm-tiny/tokenizer.json").path,
                     Fixtures.fixture("stablelm-tiny.f32.gguf").path, Fixtures.fixture("stablelm-tiny.q8_0.gguf").path] {
            XCTAssertEqual(try TokenizerLoader.load(path: path).encode(text, addSpecialTokens: true), expected, path)
        }
        XCTAssertTrue(try TokenizerLoader.load(path: Fixtures.data("vocab/ggml-vocab-llama-spm.gguf").path) is SentencePieceTokenizer)
    }

    func testConcurrentEncodingGivesTheSameIDs() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-neox.gguf"))
        let texts = (0..<64).map { "Sample \($0): 日本の首都は東京です。 The answer is \($0 * 37)! " + String(repeating: "ab", count: $0) }
        let expected = texts.map { tokenizer.encode($0, addSpecialTokens: false) }
        let results = UnsafeMutableBufferPointer<[Int]>.allocate(capacity: texts.count * 4)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: texts.count * 4) { i in
            results[i] = tokenizer.encode(texts[i % texts.count], addSpecialTokens: false)
        }
        for i in 0..<results.count { XCTAssertEqual(results[i], expected[i % texts.count]) }
    }
}
