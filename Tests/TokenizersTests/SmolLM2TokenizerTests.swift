// SmolLM2-135M-Instruct's GGUF tokenizer (byte-level BPE, pre-tokenizer "smollm", no BOS) against
// llama.cpp's ids for plain and ChatML prompts; chat markers in the text must be single tokens.
import XCTest
import Tokenizers
import TestSupport

final class SmolLM2TokenizerTests: XCTestCase {
    private func smolLM2() throws -> Tokenizer {
        let url: URL
        do { url = try SmolLM2.ggufPath() } catch SmolLM2.FetchError.registryUnreachable(let why) {
            throw XCTSkip("SmolLM2 GGUF not available: \(why)")
        }
        return try TokenizerFixtures.gguf(url)
    }

    func testPromptsEncodeLikeLlamaCpp() throws {
        let tokenizer = try smolLM2()
        let expected = try TokenizerFixtures.jsonObject(Fixtures.fixture("smollm2/expected.json"))
        let prompts = try XCTUnwrap(expected["prompts"] as? [String: [String: Any]])
        XCTAssertEqual(prompts.count, 4)
        for (key, prompt) in prompts {
            let text = try XCTUnwrap(prompt["prompt_text"] as? String)
            XCTAssertEqual(tokenizer.encode(text, addSpecialTokens: true), prompt["ids"] as? [Int], key)
            XCTAssertEqual(encodeWithoutParsingSpecial(tokenizer, text), prompt["ids_parse_special_false"] as? [Int], key)
            XCTAssertEqual(tokenizer.decode(try XCTUnwrap(prompt["ids"] as? [Int]), skipSpecialTokens: false), text, key)
        }
    }

    func testSpecialTokensFollowTheMetadata() throws {
        let tokenizer = try smolLM2()
        XCTAssertEqual(tokenizer.vocabularySize, 49_152)
        XCTAssertFalse(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.bosTokenID, 1)
        XCTAssertEqual(tokenizer.eosTokenIDs.first, 2)
        XCTAssertTrue(tokenizer.eosTokenIDs.contains(0))  // <|endoftext|>
        XCTAssertTrue(tokenizer.isSpecial(1))
        XCTAssertEqual(tokenizer.tokenBytes(2), Array("<|im_end|>".utf8))
        let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>", addSpecialTokens: true)
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.last, 2)
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), "user\nHi")
    }
}
