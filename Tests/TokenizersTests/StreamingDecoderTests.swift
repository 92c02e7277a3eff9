// Streaming decoding holds back the bytes of a character cut between tokens and never shows U+FFFD
// for text that is valid as a whole.
import XCTest
import Tokenizers
import TestSupport

final class StreamingDecoderTests: XCTestCase {
    private let japanese = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。🐈‍⬛も😺も"

    private func assertStreamsWithoutReplacement(_ tokenizer: Tokenizer, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        var decoder = StreamingDecoder(tokenizer: tokenizer, stripsEncoderSpacePrefix: true)
        var streamed = ""
        var sawHeldBack = false
        for id in ids {
            let chunk = decoder.append(id)
            XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"), "chunk \(chunk.debugDescription)", file: file, line: line)
            if decoder.pendingByteCount > 0 { sawHeldBack = true }
            streamed += chunk
        }
        streamed += decoder.flush()
        XCTAssertEqual(streamed, text, file: file, line: line)
        XCTAssertEqual(streamed, tokenizer.decode(ids, skipSpecialTokens: true), file: file, line: line)
        XCTAssertTrue(sawHeldBack, "no token ended mid-character, the test proves nothing", file: file, line: line)
    }

    func testJapaneseStreamsTokenByTokenWithoutReplacementCharacters() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        assertStreamsWithoutReplacement(tokenizer, japanese)
        XCTAssertEqual(tokenizer.decode(tokenizer.encode(japanese, addSpecialTokens: false), skipSpecialTokens: true), japanese)
    }

    func testSentencePieceByteTokensStreamWithoutReplacementCharacters() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        assertStreamsWithoutReplacement(tokenizer, japanese)
    }

    func testGeneratedSentencePieceTokensKeepTheirLeadingSpace() throws {
        let tokenizer = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        let paris = try XCTUnwrap(tokenizer.tokenID("\u{2581}Paris"))
        XCTAssertEqual(decoder.append(paris), " Paris")
    }

    func testCharacterCutMidSequenceIsHeldBackUntilFlush() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        // "猫" is E7 8C AB; find byte tokens for its first two bytes.
        let byteIDs = try [0xE7, 0x8C].map { b in
            try XCTUnwrap((0..<tokenizer.vocabularySize).first { tokenizer.tokenBytes($0) == [UInt8(b)] })
        }
        let a = try XCTUnwrap(tokenizer.encode("a", addSpecialTokens: false).first)
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(decoder.append(a), "a")
        XCTAssertEqual(decoder.append(byteIDs[0]), "")
        XCTAssertEqual(decoder.append(byteIDs[1]), "")
        XCTAssertEqual(decoder.pendingByteCount, 2)
        XCTAssertEqual(decoder.flush(), "\u{FFFD}")
        XCTAssertEqual(decoder.pendingByteCount, 0)
        XCTAssertEqual(decoder.flush(), "")
    }

    func testInvalidBytesAreNotHeldBack() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        let continuation = try XCTUnwrap((0..<tokenizer.vocabularySize).first { tokenizer.tokenBytes($0) == [0x8C] })
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(decoder.append(continuation), "\u{FFFD}")
        XCTAssertEqual(decoder.pendingByteCount, 0)
    }

    func testSpecialTokensAreSkippedUnlessAsked() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        var quiet = StreamingDecoder(tokenizer: tokenizer)
        XCTAssertEqual(quiet.append(0), "")
        var verbose = StreamingDecoder(tokenizer: tokenizer, skipSpecialTokens: false)
        XCTAssertEqual(verbose.append(0), "<|endoftext|>")
    }
}
