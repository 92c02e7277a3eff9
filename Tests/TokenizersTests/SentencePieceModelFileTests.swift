// SentencePiece .model files: streaming decoding never splits a character, tokenizer_config.json's
// tokenizer class decides BOS/EOS, and a truncated or corrupt file, an unknown model type or an
// unknown tokenizer class is a one-line error naming the file.
import XCTest
import Tokenizers
import TestSupport

final class SentencePieceModelFileTests: XCTestCase {
    private var folder: URL!

    override func setUp() { folder = Fixtures.temporaryDirectory("hayai-spm") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    private func model(_ name: String) throws -> URL { try SentencePieceReference.modelFolder().appendingPathComponent(name) }

    func testStreamingNeverSplitsACharacterAndEqualsWholeDecoding() throws {
        let texts = ["吾輩は猫である。名前はまだ無い。🐈‍⬛も😺も", "emoji 😀 and 👨‍👩‍👧‍👦 and ｶﾀｶﾅ", "東京タワー𠀋"]
            + (try SentencePieceTestStrings.jcommonsenseqa(limit: 20))
        var sawHeldBack = false
        for name in ["kyoto_ja_unigram_8000.model", "botchan_bpe_bytefallback.model", "botchan_unigram_identity.model"] {
            let tokenizer = try SentencePieceModelTokenizer(path: try model(name).path)
            for text in texts {
                let ids = tokenizer.encode(text, addSpecialTokens: false)
                var decoder = StreamingDecoder(tokenizer: tokenizer, stripsEncoderSpacePrefix: true)
                var streamed = ""
                for id in ids {
                    let chunk = decoder.append(id)
                    if decoder.pendingByteCount > 0 { sawHeldBack = true }
                    XCTAssertFalse(chunk.unicodeScalars.contains("\u{FFFD}"), "\(name): chunk \(chunk.debugDescription)")
                    streamed += chunk
                }
                streamed += decoder.flush()
                XCTAssertEqual(streamed, tokenizer.decode(ids, skipSpecialTokens: true), "\(name): \(text)")
            }
        }
        XCTAssertTrue(sawHeldBack, "no byte-fallback token ended mid-character: the test proves nothing")
    }

    func testByteFallbackRoundTripsCharactersOutsideTheVocabulary() throws {
        let tokenizer = try SentencePieceModelTokenizer(path: try model("botchan_bpe_bytefallback.model").path)
        let text = "𠀋 and 🦙"
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        XCTAssertTrue(ids.contains { tokenizer.tokenString($0) == "<0xF0>" })
        XCTAssertEqual(tokenizer.decode(ids, skipSpecialTokens: true), text)
        // A byte run cut mid-character decodes each stray byte to U+FFFD, as sentencepiece does.
        let cut = ids.filter { tokenizer.tokenString($0) != "<0x8B>" }
        XCTAssertTrue(tokenizer.decode(cut, skipSpecialTokens: true).contains("\u{FFFD}\u{FFFD}\u{FFFD}"))
    }

    func testTokenizerClassDecidesBOSAndEOSAndControlTokensAreMatchedInline() throws {
        let source = try model("kyoto_ja_unigram_8000.model")
        try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent("spiece.model"))
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"tokenizer_class": "T5Tokenizer", "extra_ids": 0}"#.utf8).write(to: config)
        XCTAssertTrue(TokenizerLoader.hasTokenizer(folder: folder.path))
        let t5 = try TokenizerLoader.load(folder: folder.path)
        let plain = try SentencePieceModelTokenizer(path: source.path)
        let text = "ユーザー: 日本の首都は？"
        XCTAssertEqual(t5.encode(text, addSpecialTokens: true), plain.encode(text, addSpecialTokens: false) + [2])
        XCTAssertFalse(t5.addsBOS)
        try Data(#"{"tokenizer_class": "LlamaTokenizer"}"#.utf8).write(to: config)
        let llama = try TokenizerLoader.load(path: folder.appendingPathComponent("spiece.model").path)
        XCTAssertEqual(llama.encode(text, addSpecialTokens: true), [1] + plain.encode(text, addSpecialTokens: false))
        try Data(#"{"tokenizer_class": "LlamaTokenizer", "add_bos_token": false, "add_eos_token": true}"#.utf8).write(to: config)
        XCTAssertEqual(try TokenizerLoader.load(folder: folder.path).encode(text, addSpecialTokens: true),
                       plain.encode(text, addSpecialTokens: false) + [2])
        // </s> written in the text is one token (transformers' slow tokenizers split on special tokens).
        XCTAssertEqual(plain.encode("a</s>b", addSpecialTokens: false),
                       plain.encode("a", addSpecialTokens: false) + [2] + plain.encode("b", addSpecialTokens: false))
        XCTAssertNotEqual(plain.encode("a</s>b", addSpecialTokens: false, parseSpecial: false).count, 3)
        XCTAssertEqual(plain.decode([1, 2] + plain.encode("日本", addSpecialTokens: false), skipSpecialTokens: true), "日本")
        XCTAssertEqual(plain.decode([999_999, -1], skipSpecialTokens: true), "")
    }

    // MARK: Bad input

    private func assertTokenizerError(_ path: String, _ fragment: String, _ body: () throws -> Any,
                                      file: StaticString = #filePath, line: UInt = #line) {
        assertOneLineError(path, fragment, of: TokenizerError.self, body, file: file, line: line)
    }

    func testTruncatedAndCorruptModelsAreOneLineErrors() throws {
        let bytes = try Data(contentsOf: try model("kyoto_ja_unigram_8000.model"))
        let file = folder.appendingPathComponent("tokenizer.model")
        for cut in [1, 7, bytes.count / 3, bytes.count - 3] {
            try bytes.prefix(cut).write(to: file)
            assertTokenizerError(file.path, "malformed SentencePiece model") { try TokenizerLoader.load(path: file.path) }
        }
        try Data("this is not a protobuf at all".utf8).write(to: file)
        assertTokenizerError(file.path, "malformed SentencePiece model") { try TokenizerLoader.load(folder: folder.path) }
        var flipped = bytes
        for i in stride(from: 100, to: flipped.count, by: 997) { flipped[i] ^= 0xA5 }
        try flipped.write(to: file)
        XCTAssertThrowsError(try TokenizerLoader.load(path: file.path))  // never a crash
        // The charsmap's trie size overrunning its blob.
        var model = MiniModelProto()
        model.normalizerCharsmap = [0x00, 0x10, 0x00, 0x00, 1, 2, 3]
        try Data(model.serialized()).write(to: file)
        assertTokenizerError(file.path, "precompiled_charsmap") { try TokenizerLoader.load(path: file.path) }
    }

    func testWordAndCharModelsAndUnknownPieceTypesAreRejected() throws {
        let file = folder.appendingPathComponent("spiece.model")
        for (type, name) in [(3, "WORD"), (4, "CHAR")] {
            var model = MiniModelProto()
            model.modelType = type
            try Data(model.serialized()).write(to: file)
            assertTokenizerError(file.path, "unsupported tokenizer model type 'SentencePiece \(name)'") { try TokenizerLoader.load(path: file.path) }
        }
        var model = MiniModelProto()
        model.pieces.append(("x", -1, 9))
        try Data(model.serialized()).write(to: file)
        assertTokenizerError(file.path, "unknown type 9") { try TokenizerLoader.load(path: file.path) }
        model = MiniModelProto()
        model.pieces.removeFirst()  // no <unk>
        try Data(model.serialized()).write(to: file)
        assertTokenizerError(file.path, "no unknown piece") { try TokenizerLoader.load(path: file.path) }
        // A well-formed minimal model loads and encodes.
        let ok = try SentencePieceModelTokenizer(path: { try Data(MiniModelProto().serialized()).write(to: file); return file.path }())
        XCTAssertEqual(ok.encode("ab", addSpecialTokens: false), [3, 4])
    }

    func testUnknownTokenizerClassT5SentinelsAndLowerCasingAreRejected() throws {
        try Data(MiniModelProto().serialized()).write(to: folder.appendingPathComponent("tokenizer.model"))
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"tokenizer_class": "AlbertTokenizer"}"#.utf8).write(to: config)
        assertTokenizerError(config.path, "tokenizer_class 'AlbertTokenizer'") { try TokenizerLoader.load(folder: folder.path) }
        try Data(#"{"tokenizer_class": "T5Tokenizer", "extra_ids": 100}"#.utf8).write(to: config)
        assertTokenizerError(config.path, "extra_ids = 100") { try TokenizerLoader.load(folder: folder.path) }
        try Data(#"{"tokenizer_class": "T5Tokenizer", "do_lower_case": true}"#.utf8).write(to: config)
        assertTokenizerError(config.path, "do_lower_case") { try TokenizerLoader.load(folder: folder.path) }
        try Data(#"{"tokenizer_class": "T5Tokenizer", "do_lower_case": false, "legacy": true}"#.utf8).write(to: config)
        XCTAssertNoThrow(try TokenizerLoader.load(folder: folder.path))
    }

    /// LlamaTokenizer's legacy flag (transformers 5: false unless the config says true): without it the
    /// text after a special token written in the input gets no dummy prefix ("▁a" is 3, "a" is 5).
    func testLlamaLegacyFalseGivesNoDummyPrefixAfterASpecialToken() throws {
        try Data(MiniModelProto().serialized()).write(to: folder.appendingPathComponent("tokenizer.model"))
        let config = folder.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"tokenizer_class": "LlamaTokenizer", "legacy": false}"#.utf8).write(to: config)
        XCTAssertEqual(try TokenizerLoader.load(folder: folder.path).encode("a</s>a", addSpecialTokens: false), [3, 2, 5])
        try Data(#"{"tokenizer_class": "LlamaTokenizer", "legacy": true}"#.utf8).write(to: config)
        XCTAssertEqual(try TokenizerLoader.load(folder: folder.path).encode("a</s>a", addSpecialTokens: false), [3, 2, 3])
        try Data(#"{"tokenizer_class": "T5Tokenizer", "legacy": false}"#.utf8).write(to: config)
        XCTAssertEqual(try TokenizerLoader.load(folder: folder.path).encode("a</s>a", addSpecialTokens: false), [3, 2, 3])
    }
}

/// Writes a small ModelProto by hand (protobuf wire format), for the malformed-input tests.
struct MiniModelProto {
    var pieces: [(String, Float, Int)] = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3), ("▁a", -1, 1), ("b", -2, 1), ("a", -3, 1)]
    var modelType = 1
    var normalizerCharsmap: [UInt8] = []

    private static func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat { var b = UInt8(v & 0x7F); v >>= 7; if v != 0 { b |= 0x80 }; out.append(b) } while v != 0
        return out
    }
    private static func field(_ number: Int, bytes: [UInt8]) -> [UInt8] { varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes }
    private static func field(_ number: Int, varint v: Int) -> [UInt8] { varint(UInt64(number << 3)) + varint(UInt64(bitPattern: Int64(v))) }

    func serialized() -> [UInt8] {
        var out: [UInt8] = []
        for (text, score, type) in pieces {
            var piece = Self.field(1, bytes: Array(text.utf8))
            piece += [0x15] + withUnsafeBytes(of: score.bitPattern.littleEndian, Array.init)
            piece += Self.field(3, varint: type)
            out += Self.field(1, bytes: piece)
        }
        out += Self.field(2, bytes: Self.field(3, varint: modelType))
        var normalizer = Self.field(1, bytes: Array("identity".utf8))
        if !normalizerCharsmap.isEmpty { normalizer += Self.field(2, bytes: normalizerCharsmap) }
        out += Self.field(3, bytes: normalizer)
        return out
    }
}
