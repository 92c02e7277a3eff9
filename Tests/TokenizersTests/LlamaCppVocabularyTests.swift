// llama.cpp's tokenizer test vectors for real vocabularies (GPT-2, GPT-NeoX-20B, Llama SentencePiece),
// encoded as test-tokenizer-0 does: no BOS/EOS, control tokens in the text not parsed.
import XCTest
import Tokenizers
import TestSupport

final class LlamaCppVocabularyTests: XCTestCase {
    private func check(_ tokenizer: Tokenizer, _ vectors: [(text: String, ids: [Int])], name: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        var mismatches = 0
        for (text, expected) in vectors {
            let ids = encodeWithoutParsingSpecial(tokenizer, text)
            if ids != expected {
                mismatches += 1
                XCTFail("\(name): \(text.debugDescription)\n got      \(ids)\n expected \(expected)", file: file, line: line)
            }
            XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), text, "\(name) round trip of \(text.debugDescription)",
                           file: file, line: line)
        }
        print("\(name): \(vectors.count - mismatches)/\(vectors.count) vectors identical")
    }

    func testGPT2VocabularyMatchesAllLlamaCppVectors() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-2.gguf"))
        let vectors = try Fixtures.llamaCppVocabularyVectors("ggml-vocab-gpt-2.gguf")
        XCTAssertEqual(vectors.count, 46)
        check(tokenizer, vectors, name: "gpt-2")
    }

    func testGPTNeoXVocabularyMatchesAllTestVectors() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-gpt-neox.gguf"))
        let lines = try String(contentsOf: Fixtures.data("vocab/gpt-neox.testvectors.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        let vectors: [(text: String, ids: [Int])] = try lines.map { line in
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return (try XCTUnwrap(object["text"] as? String), try XCTUnwrap(object["ids"] as? [Int]))
        }
        XCTAssertEqual(vectors.count, 54)
        check(tokenizer, vectors, name: "gpt-neox")
    }

    func testLlamaSentencePieceVocabularyMatchesAllLlamaCppVectors() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        let vectors = try Fixtures.llamaCppVocabularyVectors("ggml-vocab-llama-spm.gguf")
        XCTAssertEqual(vectors.count, 46)
        check(tokenizer, vectors, name: "llama-spm")
    }

    func testSentencePieceAddsBOSAndSpacePrefixAndDecodesWithoutThem() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        XCTAssertTrue(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.bosTokenID, 1)
        XCTAssertEqual(tokenizer.eosTokenIDs.first, 2)
        let ids = tokenizer.encode("Hello world", addSpecialTokens: true)
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(tokenizer.tokenString(ids[1]), "\u{2581}Hello")
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), "Hello world")
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: false), "<s> Hello world")
        // Inline control tokens are single tokens; the text after one gets a space prefix again.
        XCTAssertEqual(tokenizer.encode("a</s>b", addSpecialTokens: false),
                       tokenizer.encode("a", addSpecialTokens: false) + [2] + tokenizer.encode("b", addSpecialTokens: false))
        // Characters without a piece fall back to byte tokens.
        let emoji = tokenizer.encode("🦙", addSpecialTokens: false)
        XCTAssertTrue(emoji.contains { tokenizer.tokenString($0)?.hasPrefix("<0x") == true })
        XCTAssertEqual(tokenizer.decode(emoji, skipSpecialTokens: true), "🦙")
    }

    /// Pieces are looked up byte for byte, as llama.cpp does: a decomposed "e" + U+0301 is not the piece
    /// "é", nor the Angstrom sign U+212B the piece "Å" (Swift's String equality would say they are).
    func testSentencePieceLooksUpPiecesByBytesNotByCanonicalEquivalence() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        for (decomposed, composed) in [("caf" + "e\u{301}", "caf\u{E9}"), ("\u{212B}", "\u{C5}"), ("e\u{301}\u{302}", "\u{E9}\u{302}")] {
            let ids = tokenizer.encode(decomposed, addSpecialTokens: false)
            XCTAssertNotEqual(ids, tokenizer.encode(composed, addSpecialTokens: false), decomposed.debugDescription)
            XCTAssertEqual(Array(tokenizer.decode(ids, skipSpecialTokens: true).utf8), Array(decomposed.utf8), "round trip keeps the bytes")
        }
        // The piece "é" (U+00E9) exists; U+0301 alone is its own piece.
        XCTAssertEqual(tokenizer.encode("e\u{301}", addSpecialTokens: false).map { tokenizer.tokenString($0)! }, ["\u{2581}e", "\u{301}"])
    }
}
