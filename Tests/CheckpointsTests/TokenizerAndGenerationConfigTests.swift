// tokenizer_config.json and generation_config.json: the fixtures' files, the other shapes transformers
// writes, and malformed files.
import Foundation
import XCTest
@testable import Checkpoints
import TestSupport

final class TokenizerAndGenerationConfigTests: XCTestCase {
    var folder: URL!

    override func setUp() { folder = temporaryFolder(self) }

    func write(_ name: String, _ text: String) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func testFixturesTokenizerConfig() throws {
        for fixture in ModelConfigTests.fixtures {
            let config = try TokenizerConfig.load(path: Fixtures.fixture("\(fixture)/tokenizer_config.json").path)
            XCTAssertEqual(config.bos_token, "<|endoftext|>")
            XCTAssertEqual(config.eos_token, "<|endoftext|>")
            XCTAssertEqual(config.pad_token, "<|padding|>")
            XCTAssertEqual(config.unk_token, "<|endoftext|>")
            XCTAssertEqual(config.model_max_length, 256)
            XCTAssertEqual(config.tokenizer_class, "PreTrainedTokenizerFast")
            XCTAssertEqual(config.clean_up_tokenization_spaces, false)
            XCTAssertNil(config.chat_template)
            XCTAssertNil(config.add_bos_token)
        }
    }

    func testFixturesGenerationConfig() throws {
        for fixture in ModelConfigTests.fixtures {
            let config = try GenerationConfig.load(path: Fixtures.fixture("\(fixture)/generation_config.json").path)
            XCTAssertEqual(config.bos_token_id, 0)
            XCTAssertEqual(config.eosTokenIDs, [0])
            XCTAssertEqual(config.pad_token_id, 1)
            XCTAssertNil(config.do_sample)
            XCTAssertNil(config.temperature)
        }
    }

    func testTokensAsAddedTokenObjectsAndNamedChatTemplates() throws {
        let path = try write("tokenizer_config.json", #"""
        {
          "add_bos_token": true,
          "add_eos_token": false,
          "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
          "eos_token": {"content": "</s>", "special": true},
          "pad_token": null,
          "unk_token": "<unk>",
          "additional_special_tokens": ["<|im_start|>", {"content": "<|im_end|>"}],
          "chat_template": [
            {"name": "default", "template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"},
            {"name": "tool_use", "template": "{{ tools }}"}
          ],
          "model_max_length": 1000000000000000019884624838656,
          "legacy": true
        }
        """#)
        let config = try TokenizerConfig.load(path: path)
        XCTAssertEqual(config.bos_token?.content, "<s>")
        XCTAssertEqual(config.eos_token?.content, "</s>")
        XCTAssertNil(config.pad_token)
        XCTAssertEqual(config.unk_token, "<unk>")
        XCTAssertEqual(config.additional_special_tokens, ["<|im_start|>", "<|im_end|>"])
        XCTAssertEqual(config.add_bos_token, true)
        XCTAssertEqual(config.add_eos_token, false)
        XCTAssertEqual(config.chat_template?.template(), "{% for m in messages %}{{ m['content'] }}{% endfor %}")
        XCTAssertEqual(config.chat_template?.template(named: "tool_use"), "{{ tools }}")
        XCTAssertNil(config.chat_template?.template(named: "rag"))
        XCTAssertNil(config.model_max_length, "transformers' 'no limit' value")

        // Encoding writes the same shapes back (tokens as strings, the template list as a list).
        let again = try JSONDecoder().decode(TokenizerConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(again, config)
    }

    func testSingleStringChatTemplate() throws {
        let path = try write("tokenizer_config.json", #"{"chat_template": "{{ bos_token }}{{ messages[0]['content'] }}", "model_max_length": 4096}"#)
        let config = try TokenizerConfig.load(path: path)
        XCTAssertEqual(config.chat_template?.template(), "{{ bos_token }}{{ messages[0]['content'] }}")
        XCTAssertEqual(config.chat_template?.isSingle, true)
        XCTAssertEqual(config.model_max_length, 4096)
        let encoded = String(decoding: try JSONEncoder().encode(config.chat_template!), as: UTF8.self)
        XCTAssertTrue(encoded.hasPrefix("\""), encoded)
    }

    func testEosAsListAndSamplingSettings() throws {
        let path = try write("generation_config.json", #"""
        {"bos_token_id": 1, "eos_token_id": [2, 32000], "pad_token_id": null, "do_sample": true,
         "temperature": 0.7, "top_k": 40, "top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.1,
         "max_new_tokens": 512, "max_length": 4096, "transformers_version": "4.40.0"}
        """#)
        let config = try GenerationConfig.load(path: path)
        XCTAssertEqual(config, GenerationConfig(do_sample: true, temperature: 0.7, top_k: 40, top_p: 0.9, min_p: 0.05,
                                                repetition_penalty: 1.1, max_new_tokens: 512, max_length: 4096,
                                                bos_token_id: 1, eos_token_id: [2, 32000], pad_token_id: nil))
        XCTAssertEqual(config.eosTokenIDs, [2, 32000])
        let single = try GenerationConfig.load(path: try write("g2.json", #"{"eos_token_id": 5, "temperature": 1}"#))
        XCTAssertEqual(single.eosTokenIDs, [5])
        XCTAssertEqual(single.temperature, 1)
        XCTAssertEqual(try GenerationConfig.load(path: try write("g3.json", "{}")), GenerationConfig())
    }

    func testMalformedFilesGiveOneLineErrors() throws {
        let tokenizerCases: [(String, String)] = [
            ("{\"bos_token\": ", "malformed: not valid JSON"),
            ("", "malformed: not valid JSON"),
            ("[]", "the top level is not a JSON object"),
            (#"{"bos_token": 5}"#, "key bos_token has the wrong type"),
            (#"{"eos_token": {"lstrip": true}}"#, "missing key eos_token.content"),
            (#"{"add_bos_token": "yes"}"#, "key add_bos_token has the wrong type"),
            (#"{"chat_template": 3}"#, "key chat_template has the wrong type"),
            (#"{"chat_template": [{"name": "default"}]}"#, "missing key chat_template[0].template"),
            (#"{"model_max_length": "big"}"#, "key model_max_length has the wrong type"),
            (#"{"model_max_length": 2.5}"#, "key model_max_length has a bad value"),
        ]
        for (i, (text, problem)) in tokenizerCases.enumerated() {
            let path = try write("tokenizer\(i).json", text)
            assertCheckpointError(path, problem) { _ = try TokenizerConfig.load(path: path) }
        }
        let generationCases: [(String, String)] = [
            ("{", "malformed: not valid JSON"),
            (#"{"eos_token_id": "</s>"}"#, "key eos_token_id has the wrong type"),
            (#"{"eos_token_id": [1, null]}"#, "key eos_token_id[1] is null"),
            (#"{"temperature": "hot"}"#, "key temperature has the wrong type"),
            (#"{"top_k": 2.5}"#, "key top_k has a bad value"),
            (#"{"do_sample": 1}"#, "key do_sample has the wrong type"),
            (#"{"temperature": -1}"#, "invalid config: temperature -1.0 must be a finite number >= 0"),
            (#"{"top_p": 0}"#, "invalid config: top_p 0.0 must be in (0, 1]"),
            (#"{"top_k": -3}"#, "invalid config: top_k -3 must be >= 0"),
            (#"{"eos_token_id": [2, -1]}"#, "invalid config: eos_token_id -1 must be >= 0"),
        ]
        for (i, (text, problem)) in generationCases.enumerated() {
            let path = try write("generation\(i).json", text)
            assertCheckpointError(path, problem) { _ = try GenerationConfig.load(path: path) }
        }
        let missing = folder.appendingPathComponent("generation_config.json").path
        assertCheckpointError(missing, "cannot open: no such file") { _ = try GenerationConfig.load(path: missing) }
        assertCheckpointError(folder.path, "cannot open: is a directory") { _ = try TokenizerConfig.load(path: folder.path) }
    }
}
