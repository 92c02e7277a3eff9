// The fixtures' byte-level BPE tokenizer (GPT-NeoX style, NFC, no BOS) read from tokenizer.json and
// from the GGUF files llama.cpp converted, against Hugging Face tokenizers' own ids.
import XCTest
import Tokenizers
import TestSupport

final class HuggingFaceTokenizerTests: XCTestCase {
    func testAllTokenizerCasesMatchHuggingFaceIdsAndDecodings() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        let root = try TokenizerFixtures.jsonObject(Fixtures.fixture("tokenizer_cases.json"))
        let cases = try XCTUnwrap(root["cases"] as? [[String: Any]])
        XCTAssertEqual(cases.count, 12)
        XCTAssertEqual(tokenizer.vocabularySize, root["vocab_size"] as? Int)
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let expected = try XCTUnwrap(c["ids"] as? [Int])
            let ids = tokenizer.encode(text, addSpecialTokens: true)
            XCTAssertEqual(ids, expected, "ids of \(text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(expected, skipSpecialTokens: false), c["decoded"] as? String, "decoding of \(text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(expected, skipSpecialTokens: true), c["decoded_skip_special"] as? String,
                           "decoding without special tokens of \(text.debugDescription)")
            if let tokens = c["tokens"] as? [String] {
                XCTAssertEqual(expected.map { tokenizer.tokenString($0) ?? "?" }, tokens)
            }
        }
    }

    func testFixturePromptsEncodeLikeTransformersFromFolderAndGGUF() throws {
        for name in ["stablelm-tiny", "stablelm-tiny-gqa-bias-parallel", "gptneox-tiny"] {
            let expected = try TokenizerFixtures.jsonObject(Fixtures.fixture("\(name)/expected.json"))
            let prompts = try XCTUnwrap(expected["prompts"] as? [String: [String: Any]])
            let fromFolder = try TokenizerFixtures.huggingFace(name)
            let fromGGUF = try TokenizerFixtures.gguf(Fixtures.fixture("\(name).f32.gguf"))
            for (key, prompt) in prompts {
                let text = try XCTUnwrap(prompt["text"] as? String)
                let ids = try XCTUnwrap(prompt["ids"] as? [Int])
                XCTAssertEqual(fromFolder.encode(text, addSpecialTokens: true), ids, "\(name) \(key) from tokenizer.json")
                XCTAssertEqual(fromGGUF.encode(text, addSpecialTokens: true), ids, "\(name) \(key) from GGUF")
                XCTAssertEqual(fromFolder.decode(ids, skipSpecialTokens: true), text)
                XCTAssertEqual(fromGGUF.decode(ids, skipSpecialTokens: true), text)
            }
        }
    }

    func testSpecialTokensAndConfigOfTheFixtureTokenizer() throws {
        let tokenizer = try TokenizerFixtures.huggingFace("stablelm-tiny")
        XCTAssertEqual(tokenizer.bosTokenID, 0)
        XCTAssertEqual(tokenizer.eosTokenIDs.first, 0)
        XCTAssertFalse(tokenizer.addsBOS)
        XCTAssertTrue(tokenizer.isSpecial(0))
        XCTAssertTrue(tokenizer.isSpecial(1))
        XCTAssertFalse(tokenizer.isSpecial(2))
        XCTAssertEqual(tokenizer.tokenID("<|endoftext|>"), 0)
        XCTAssertEqual(tokenizer.tokenBytes(222), [0x20])  // "Ġ"
        XCTAssertEqual(tokenizer.tokenBytes(0), Array("<|endoftext|>".utf8))
        XCTAssertNil(tokenizer.tokenString(-1))
        XCTAssertNil(tokenizer.tokenString(tokenizer.vocabularySize))
    }

    func testAddBOSTokenInTokenizerConfigPrependsBOS() throws {
        let folder = Fixtures.temporaryDirectory("hayai-tok")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny/tokenizer.json"),
                                         to: folder.appendingPathComponent("tokenizer.json"))
        try Data(#"{"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "add_bos_token": true}"#.utf8)
            .write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try TokenizerLoader.load(path: folder.path)
        XCTAssertTrue(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.encode("Hi", addSpecialTokens: true).first, 0)
        XCTAssertNotEqual(tokenizer.encode("Hi", addSpecialTokens: false).first, 0)
    }
}
