// SentencePiece-style tokenizer.json files built by Hugging Face `tokenizers` (scripts/
// sentencepiece-tokenizer-json, as transformers' LlamaConverter builds them) from the Llama vocabulary
// in ../shared/data/vocab: hayai's ids equal tokenizers' ids, hayai's ids on the GGUF and llama.cpp's
// 46 test vectors; decoding equals tokenizers' decoders. A Unigram file from the Japanese .model too.
import XCTest
import Checkpoints
import Tokenizers
import TestSupport

final class SentencePieceTokenizerJSONTests: XCTestCase {
    struct Answers: Decodable { var encoded: [[Int]]; var encoded_special: [[Int]]; var decoded: [String] }

    private var folder: URL!
    override func setUp() { folder = Fixtures.temporaryDirectory("hayai-spm-json") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    private func llamaPieces() throws -> [[Any]] {
        let gguf = try GGUFFile(url: Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        let tokens = try XCTUnwrap(gguf.stringArray("tokenizer.ggml.tokens"))
        let scores = try XCTUnwrap(gguf.floatArray("tokenizer.ggml.scores"))
        let types = try XCTUnwrap(gguf.intArray("tokenizer.ggml.token_type"))
        return (0..<tokens.count).map { [tokens[$0], scores[$0], types[$0]] }
    }

    /// Builds the file with `tokenizers`; returns the folder and tokenizers' answers for `texts`.
    private func build(_ variant: String, source: [String: Any], texts: [String]) throws -> (URL, Answers) {
        _ = try SentencePieceReference.modelFolder()  // installs the Python packages when PyPI is reachable
        let out = folder.appendingPathComponent(variant)
        var request = source
        request["variant"] = variant
        request["out"] = out.path
        request["texts"] = texts
        let (status, stdout, stderr) = SentencePieceReference.run(
            Fixtures.repoRoot.appendingPathComponent("scripts/sentencepiece-tokenizer-json").path, [],
            stdin: try JSONSerialization.data(withJSONObject: request))
        if status != 0 && stderr.contains("No module named 'tokenizers'") { throw XCTSkip("Python package tokenizers missing: scripts/setup --tests") }
        XCTAssertEqual(status, 0, stderr)
        return (out, try JSONDecoder().decode(Answers.self, from: Data(stdout.utf8)))
    }

    private func texts() throws -> (all: [String], vectors: [(text: String, ids: [Int])]) {
        let vectors = try Fixtures.llamaCppVocabularyVectors("ggml-vocab-llama-spm.gguf")
        return (vectors.map(\.text) + (try SentencePieceTestStrings.all()) + ["<s>inline</s> special <unk>"], vectors)
    }

    private func assertMatchesTokenizers(_ tokenizer: Tokenizer, _ answers: Answers, _ texts: [String], _ name: String,
                                         file: StaticString = #filePath, line: UInt = #line) {
        var differences = 0
        for (i, text) in texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            let decoded = tokenizer.decode(answers.encoded[i], skipSpecialTokens: false)
            let withSpecial = tokenizer.encode(text, addSpecialTokens: true)
            if ids != answers.encoded[i] || decoded != answers.decoded[i] || withSpecial != answers.encoded_special[i] {
                differences += 1
                if differences <= 8 {
                    // The first differing id with a little context (long texts would flood the log).
                    let expected = answers.encoded[i]
                    let at = (0..<min(ids.count, expected.count)).first { ids[$0] != expected[$0] } ?? min(ids.count, expected.count)
                    let window = { (a: [Int]) in Array(a[max(0, at - 3)..<min(a.count, at + 6)]) }
                    XCTFail("\(name): \(text.prefix(80).debugDescription) (\(ids.count) vs \(expected.count) ids, first difference at \(at))\n got      \(window(ids)) \(decoded.prefix(80).debugDescription)\n expected \(window(expected)) \(answers.decoded[i].prefix(80).debugDescription)",
                            file: file, line: line)
                }
            }
        }
        XCTAssertEqual(differences, 0, "\(name): \(differences) of \(texts.count) strings differ from tokenizers", file: file, line: line)
        print("\(name): \(texts.count) strings, \(differences) differences from tokenizers")
    }

    /// `sameAsGGUF`: which texts must also give llama.cpp's ids (Metaspace's "first" scheme puts no "▁"
    /// before a text that starts with a space, where SentencePiece does).
    private func checkLlama(_ variant: String, sameAsGGUF: (String) -> Bool) throws {
        let (all, vectors) = try texts()
        let (out, answers) = try build(variant, source: ["pieces": try llamaPieces()], texts: all)
        let tokenizer = try TokenizerLoader.load(folder: out.path)
        XCTAssertTrue(tokenizer is SentencePieceJSONTokenizer)
        XCTAssertTrue(tokenizer.addsBOS)
        assertMatchesTokenizers(tokenizer, answers, all, variant)
        let gguf = try TokenizerFixtures.gguf(Fixtures.data("vocab/ggml-vocab-llama-spm.gguf"))
        for (text, expected) in vectors where sameAsGGUF(text) {
            let ids = tokenizer.encode(text, addSpecialTokens: false)
            XCTAssertEqual(ids, expected, "\(variant) vs llama.cpp: \(text.debugDescription)")
            XCTAssertEqual(ids, encodeWithoutParsingSpecial(gguf, text), "\(variant) vs GGUF: \(text.debugDescription)")
        }
    }

    func testLegacyLlamaTokenizerJSONMatchesTokenizersTheGGUFAndLlamaCpp() throws { try checkLlama("legacy", sameAsGGUF: { _ in true }) }

    func testMetaspaceLlamaTokenizerJSONMatchesTokenizersTheGGUFAndLlamaCpp() throws { try checkLlama("metaspace", sameAsGGUF: { !$0.hasPrefix(" ") }) }

    func testMetaspaceSplittingWordsMatchesTokenizers() throws { try checkLlama("metaspace-split", sameAsGGUF: { _ in false }) }

    func testUnigramTokenizerJSONFromTheJapaneseModelMatchesTokenizers() throws {
        let model = try SentencePieceReference.modelFolder().appendingPathComponent("kyoto_ja_unigram_8000.model")
        let all = try SentencePieceTestStrings.all()
        let (out, answers) = try build("unigram", source: ["model": model.path], texts: all)
        let tokenizer = try TokenizerLoader.load(folder: out.path)
        assertMatchesTokenizers(tokenizer, answers, all, "unigram")
    }

    /// transformers 5's T5Tokenizer layout (rinna): Unigram, the .model's nmt_nfkc charsmap as a Precompiled
    /// normalizer (per grapheme, as tokenizers applies it), WhitespaceSplit, Metaspace on every word.
    func testT5StyleTokenizerJSONWithTheModelsPrecompiledCharsmapMatchesTokenizers() throws {
        let model = try SentencePieceReference.modelFolder().appendingPathComponent("kyoto_ja_unigram_8000.model")
        let all = try SentencePieceTestStrings.all()
        let (out, answers) = try build("t5", source: ["model": model.path], texts: all)
        let json = try Fixtures.json(out.appendingPathComponent("tokenizer.json")) as! [String: Any]
        XCTAssertEqual((json["normalizer"] as? [String: Any])?["type"] as? String, "Precompiled")
        assertMatchesTokenizers(try TokenizerLoader.load(folder: out.path), answers, all, "t5")
    }

    func testStreamingDecodesTheLlamaFileWithoutSplittingCharacters() throws {
        let text = "吾輩は猫である。🦙 and 𠀋"
        let (out, _) = try build("legacy", source: ["pieces": try llamaPieces()], texts: [text])
        let tokenizer = try TokenizerLoader.load(folder: out.path)
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        var decoder = StreamingDecoder(tokenizer: tokenizer, stripsEncoderSpacePrefix: true)
        var streamed = ""
        for id in ids {
            let chunk = decoder.append(id)
            XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"))
            streamed += chunk
        }
        XCTAssertEqual(streamed + decoder.flush(), text)
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), text)
    }

    func testWithoutADecoderTokensAreJoinedWithSpacesAndUnknownsStaySeparate() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1, "b": 2, "ab": 3}, "merges": [["a", "b"]], "unk_token": "<unk>"}}"#
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        let tokenizer = try TokenizerLoader.load(folder: folder.path)
        XCTAssertEqual(tokenizer.encode("abab", addSpecialTokens: false), [3, 3])
        XCTAssertEqual(tokenizer.encode("acc", addSpecialTokens: false), [1, 0, 0])  // fuse_unk is off by default
        XCTAssertEqual(tokenizer.decode([3, 3], skipSpecialTokens: false), "ab ab")
    }

    func testUnimplementedComponentsAreNamedInOneLineErrors() throws {
        let file = folder.appendingPathComponent("tokenizer.json")
        let cases: [(String, String)] = [
            (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, "decoder": {"type": "CTC"}}"#, "decoder 'CTC'"),
            (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}}"#, "BPE dropout"),
            (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}, "normalizer": {"type": "BertNormalizer"}}"#, "normalizer 'BertNormalizer'"),
            (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}, "normalizer": {"type": "Precompiled", "precompiled_charsmap": ""}}"#,
             "Precompiled normalizer: precompiled_charsmap of 0 bytes"),
            (#"{"model": {"type": "Unigram", "vocab": [["a", -1.0]]}, "pre_tokenizer": {"type": "Metaspace", "prepend_scheme": "sometimes"}}"#, "prepend_scheme 'sometimes'"),
            (#"{"model": {"type": "Unigram", "vocab": [["a"]]}}"#, "not [piece, score]"),
        ]
        for (json, fragment) in cases {
            try Data(json.utf8).write(to: file)
            XCTAssertThrowsError(try TokenizerLoader.load(folder: folder.path), fragment) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(file.path) && message.contains(fragment) && !message.contains("\n"), message)
            }
        }
    }
}
