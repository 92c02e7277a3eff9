// lm-eval 0.4's context/continuation split on SentencePiece tokenizers: context and context +
// continuation are encoded with add_special_tokens=False, trailing context whitespace moves to the
// continuation, and the continuation is what the whole has beyond the context — so the dummy prefix
// "▁" stays on the context's first token and a continuation that starts a word keeps its "▁".
// Expected ids: lm-eval's HFLM._encode_pair run over transformers 5's tokenizers by
// scripts/generate-japanese-fixtures (Tests/Fixtures/japanese/*/expected.json).
import XCTest
import Foundation
import Evaluation
import Tokenizers
import TestSupport

final class SentencePieceRequestEncodingTests: XCTestCase {
    func check(_ folder: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try TokenizerLoader.load(folder: Fixtures.japanese(folder).path)
        let json = try Fixtures.json(Fixtures.japanese("\(folder)/expected.json")) as! [String: Any]
        let pairs = try XCTUnwrap(json["lm_eval_pairs"] as? [[String: Any]], file: file, line: line)
        XCTAssertFalse(pairs.isEmpty, file: file, line: line)
        for p in pairs {
            let context = p["context"] as! String, continuation = p["continuation"] as! String
            let encoded = RequestEncoding.encode(context: context, continuation: continuation, tokenizer: tokenizer)
            XCTAssertEqual(encoded.context, (p["context_ids"] as! [NSNumber]).map(\.intValue),
                           "\(folder) context of \((context, continuation))", file: file, line: line)
            XCTAssertEqual(encoded.continuation, (p["continuation_ids"] as! [NSNumber]).map(\.intValue),
                           "\(folder) continuation of \((context, continuation))", file: file, line: line)
        }
    }

    func testLlamaSentencePieceTokenizerJSONSplitsAsLMEval() throws { try check("llama-spm") }

    func testLlamaModelFileSplitsAsLMEval() throws { try check("tokenizer-llama-model-legacy-false") }

    func testUnigramTokenizerJSONWithPrecompiledNormalizerSplitsAsLMEval() throws { try check("tokenizer-rinna-json") }
}
