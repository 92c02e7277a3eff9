// The Japanese families' tokenizers against what transformers 5 (and sentencepiece, for a
// spiece.model) gave on awkward strings (Tests/Fixtures/japanese/*/expected.json, written by
// scripts/generate-japanese-fixtures): rinna-style spiece.model with a precompiled charsmap, the
// tokenizer.json transformers writes for it (Precompiled normalizer, WhitespaceSplit), a Llama
// SentencePiece-style tokenizer.json, and a Llama .model under legacy = false and legacy = true.
import XCTest
import Foundation
import Tokenizers
import TestSupport

final class JapaneseTokenizerFixtureTests: XCTestCase {
    struct Case { var text: String; var ids: [Int]; var idsSpecial: [Int]; var decoded: String; var sentencepieceIDs: [Int]? }

    static func cases(_ folder: String) throws -> [Case] {
        let json = try Fixtures.json(Fixtures.japanese("\(folder)/expected.json")) as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map { c in
            Case(text: c["text"] as! String, ids: (c["ids"] as! [NSNumber]).map(\.intValue),
                 idsSpecial: (c["ids_special"] as! [NSNumber]).map(\.intValue), decoded: c["decoded"] as! String,
                 sentencepieceIDs: (c["sentencepiece_ids"] as? [NSNumber])?.map(\.intValue))
        }
    }

    /// hayai's ids (with and without special tokens) equal transformers' on every case; `decodes`: the decoding too.
    func checkAgainstTransformers(_ folder: String, decodes: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try TokenizerLoader.load(folder: Fixtures.japanese(folder).path)
        for c in try Self.cases(folder) {
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false), c.ids, "\(folder): \(c.text.debugDescription)", file: file, line: line)
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: true), c.idsSpecial, "\(folder) with special tokens: \(c.text.debugDescription)",
                           file: file, line: line)
            if decodes {
                XCTAssertEqual(tokenizer.decode(c.ids, skipSpecialTokens: false), c.decoded, "\(folder) decoding \(c.text.debugDescription)",
                               file: file, line: line)
            }
        }
    }

    func testRinnaStyleSpieceModelMatchesSentencePiece() throws {
        let tokenizer = try XCTUnwrap(try TokenizerLoader.load(folder: Fixtures.japanese("gptneox-spm").path) as? SentencePieceModelTokenizer)
        // sentencepiece reads "</s>" written in the text as characters.
        for c in try Self.cases("gptneox-spm") {
            XCTAssertEqual(tokenizer.encode(c.text, addSpecialTokens: false, parseSpecial: false), try XCTUnwrap(c.sentencepieceIDs),
                           c.text.debugDescription)
        }
    }

    func testTokenizerJSONWithPrecompiledNormalizerMatchesTransformers() throws {
        let json = try Fixtures.json(Fixtures.japanese("tokenizer-rinna-json/tokenizer.json")) as! [String: Any]
        XCTAssertEqual((json["normalizer"] as? [String: Any])?["type"] as? String, "Precompiled", "the fixture exercises Precompiled")
        XCTAssertTrue(try TokenizerLoader.load(folder: Fixtures.japanese("tokenizer-rinna-json").path) is SentencePieceJSONTokenizer)
        try checkAgainstTransformers("tokenizer-rinna-json")
    }

    func testLlamaSentencePieceTokenizerJSONMatchesTransformers() throws {
        try checkAgainstTransformers("llama-spm")
    }

    func testLlamaModelFileWithLegacyFalseMatchesTransformers() throws {
        try checkAgainstTransformers("tokenizer-llama-model-legacy-false")
    }

    func testLlamaModelFileWithLegacyTrueMatchesTransformers() throws {
        try checkAgainstTransformers("tokenizer-llama-model-legacy-true")
    }
}
