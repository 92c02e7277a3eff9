// tokenizer.json variants built from the fixture's tokenizer: merges as strings, Split/Sequence/Digits
// pre-tokenizers, a TemplateProcessing post-processor and added-token flags, and the hand-written
// regex scanners checked against NSRegularExpression.
import Foundation
import XCTest
@testable import Tokenizers
import TestSupport

final class PreTokenizerVariantsTests: XCTestCase {
    private var folder: URL!

    override func setUp() { folder = Fixtures.temporaryDirectory("hayai-tok-variant") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    private let samples = [
        "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ ------======= нещо на Български",
        "   leading spaces and trailing spaces   ", "line1\nline2\n\n\tTabbed\r\nCRLF end\n",
        "don't I'll we've 3.14159 $1,000,000 x=y+1 -> [a]{b} IT'S WE'RE", "１２３４５ full-width ①②③ 33333333",
        "日本語とEnglishが混在するtext、OK？ＡＢＣ ｶﾀｶﾅ", "zero\u{200B}width\u{00A0}nbsp\u{3000}ideographic  space \n \n\n",
    ]

    /// The fixture's tokenizer.json with `edit` applied, loaded from a temporary folder.
    private func variant(_ edit: (inout [String: Any]) -> Void) throws -> Tokenizer {
        var json = try TokenizerFixtures.jsonObject(Fixtures.fixture("stablelm-tiny/tokenizer.json"))
        edit(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: folder.appendingPathComponent("tokenizer.json"))
        return try TokenizerLoader.load(folder: folder.path)
    }

    private func assertSameIDs(_ a: Tokenizer, _ b: Tokenizer, file: StaticString = #filePath, line: UInt = #line) {
        for text in samples {
            XCTAssertEqual(a.encode(text, addSpecialTokens: true), b.encode(text, addSpecialTokens: true), text.debugDescription,
                           file: file, line: line)
        }
    }

    func testMergesWrittenAsStringsEncodeLikePairs() throws {
        let reference = try TokenizerFixtures.huggingFace("stablelm-tiny")
        let strings = try variant { json in
            var model = json["model"] as! [String: Any]
            model["merges"] = (model["merges"] as! [[String]]).map { $0.joined(separator: " ") }
            json["model"] = model
        }
        assertSameIDs(reference, strings)
    }

    func testSplitRegexThenByteLevelEncodesLikeByteLevelRegex() throws {
        let reference = try TokenizerFixtures.huggingFace("stablelm-tiny")
        let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
        for pattern in [gpt2, "(?:" + gpt2 + ")"] {  // the second is not recognized: NSRegularExpression runs it
            let split = try variant { json in
                json["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                    ["type": "Split", "pattern": ["Regex": pattern], "behavior": "Isolated", "invert": false],
                    ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
                ]]
            }
            assertSameIDs(reference, split)
        }
    }

    func testDigitsPreTokenizerSplitsEveryDigit() throws {
        let digits = try variant { json in
            json["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Digits", "individual_digits": true],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            ]]
        }
        let ids = digits.encode("x 2024", addSpecialTokens: false)
        XCTAssertEqual(ids.suffix(4).map { digits.decode([$0], skipSpecialTokens: false) }, ["2", "0", "2", "4"])
    }

    func testAddPrefixSpaceEncodesLikeALeadingSpace() throws {
        let reference = try TokenizerFixtures.huggingFace("stablelm-tiny")
        let prefixed = try variant { json in
            json["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true]
        }
        XCTAssertEqual(prefixed.encode("Hello world", addSpecialTokens: false), reference.encode(" Hello world", addSpecialTokens: false))
        XCTAssertEqual(prefixed.encode(" Hello", addSpecialTokens: false), reference.encode(" Hello", addSpecialTokens: false))
    }

    func testTemplateProcessingDecidesBOSAndEOS() throws {
        let templated = try variant { json in
            json["post_processor"] = [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": "<|endoftext|>", "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                           ["SpecialToken": ["id": "<|padding|>", "type_id": 0]]],
                "pair": [], "special_tokens": ["<|endoftext|>": ["id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]],
                                               "<|padding|>": ["id": "<|padding|>", "ids": [1], "tokens": ["<|padding|>"]]],
            ]
        }
        XCTAssertTrue(templated.addsBOS)
        let ids = templated.encode("Hi", addSpecialTokens: true)
        XCTAssertEqual(ids.first, 0)
        XCTAssertEqual(ids.last, 1)
        XCTAssertEqual(templated.decode(ids, skipSpecialTokens: true), "Hi")
        XCTAssertEqual(templated.encode("Hi", addSpecialTokens: false), Array(ids.dropFirst().dropLast()))
    }

    func testAddedTokenFlagsStripSpacesAndRespectWordBoundaries() throws {
        let tokenizer = try variant { json in
            var added = json["added_tokens"] as! [[String: Any]]
            added.append(["id": 2000, "content": "<mask>", "single_word": false, "lstrip": true, "rstrip": true,
                          "normalized": false, "special": true])
            added.append(["id": 2001, "content": "cat", "single_word": true, "lstrip": false, "rstrip": false,
                          "normalized": true, "special": false])
            json["added_tokens"] = added
        }
        XCTAssertEqual(tokenizer.vocabularySize, 2002)
        XCTAssertEqual(tokenizer.encode("a <mask> b", addSpecialTokens: false),
                       tokenizer.encode("a", addSpecialTokens: false) + [2000] + tokenizer.encode("b", addSpecialTokens: false))
        XCTAssertTrue(tokenizer.encode("the cat sat", addSpecialTokens: false).contains(2001))
        XCTAssertFalse(tokenizer.encode("concatenate", addSpecialTokens: false).contains(2001))
        XCTAssertEqual(tokenizer.decode([2001], skipSpecialTokens: true), "cat")
        XCTAssertEqual(tokenizer.decode([2000], skipSpecialTokens: true), "")
    }

    func testHandWrittenScannersAgreeWithTheRegexes() throws {
        let llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        let qwen2 = llama3.replacingOccurrences(of: "\\p{N}{1,3}", with: "\\p{N}")
        let gpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
        for pattern in [gpt2, llama3, qwen2] {
            for text in samples {
                XCTAssertEqual(PreTokenizerProbe.words(text, pattern: pattern, handWritten: true),
                               PreTokenizerProbe.words(text, pattern: pattern, handWritten: false),
                               "\(pattern.prefix(20))… on \(text.debugDescription)")
            }
        }
    }
}

/// Words of a text under one pre-tokenizer pattern, by the hand-written scanner or by NSRegularExpression.
enum PreTokenizerProbe {
    static func words(_ text: String, pattern: String, handWritten: Bool) -> [String] {
        let rule = handWritten
            ? try! PreTokenizerRule.forPattern(pattern, behavior: .isolated, invert: false)
            : PreTokenizerRule.regex(try! NSRegularExpression(pattern: pattern), behavior: .isolated, invert: false)
        if handWritten, case .regex = rule { XCTFail("pattern not recognized: \(pattern)") }
        let scalars = ScalarText(Substring(text))
        return preTokenize(scalars, rules: [rule]).map { scalars.string($0) }
    }
}
