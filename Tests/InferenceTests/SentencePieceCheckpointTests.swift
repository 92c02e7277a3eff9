// Checkpoint folders with SentencePiece tokenizers: Model.load finds spiece.model (rinna's layout)
// when there is no tokenizer.json, and the GGUF writer writes a SentencePiece-style tokenizer.json as
// llama.cpp's `llama` vocabulary, never as byte-level BPE (SentencePieceGGUFExportTests: its ids).
import XCTest
import Checkpoints
import Inference
import Tokenizers
import TestSupport

final class SentencePieceCheckpointTests: XCTestCase {
    private var folder: URL!
    override func setUp() { folder = Fixtures.temporaryDirectory("hayai-spm-ckpt") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    func testModelFolderWithSpieceModelLoadsItsTokenizer() throws {
        try SlidingWindowTests.Tiny(seed: 3).write(to: folder, slidingWindow: nil)
        XCTAssertNil(try Model.load(path: folder.path).tokenizer)
        // A minimal unigram ModelProto: <unk>, <s>, </s>, ▁a, b (protobuf wire format by hand).
        func field(_ n: UInt8, _ bytes: [UInt8]) -> [UInt8] { [n << 3 | 2, UInt8(bytes.count)] + bytes }
        func piece(_ text: String, _ type: UInt8) -> [UInt8] {
            field(1, field(1, Array(text.utf8)) + [0x15, 0, 0, 0x80, 0xBF] + [3 << 3, type])  // score -1.0
        }
        let proto = piece("<unk>", 2) + piece("<s>", 3) + piece("</s>", 3) + piece("▁a", 1) + piece("b", 1)
            + field(3, field(1, Array("identity".utf8)))
        try Data(proto).write(to: folder.appendingPathComponent("spiece.model"))
        try Data(#"{"tokenizer_class": "T5Tokenizer"}"#.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let tokenizer = try XCTUnwrap(try Model.load(path: folder.path).tokenizer)
        XCTAssertTrue(tokenizer is SentencePieceModelTokenizer)
        XCTAssertEqual(tokenizer.encode("ab", addSpecialTokens: true), [3, 4, 2])
    }

    func testGGUFExportWritesASentencePieceStyleTokenizerJSONAsALlamaVocabulary() throws {
        try SlidingWindowTests.Tiny(seed: 5).write(to: folder, slidingWindow: nil)
        let json = #"{"model": {"type": "BPE", "vocab": {"<unk>": 0, "a": 1}, "merges": [], "byte_fallback": true, "unk_token": "<unk>"}, "decoder": {"type": "ByteFallback"}}"#
        try Data(json.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        let out = folder.appendingPathComponent("out.gguf").path
        try GGUFExport.quantize(input: folder.path, output: out, target: .f32)
        let file = try GGUFFile(path: out)
        XCTAssertEqual(file.string("tokenizer.ggml.model"), "llama")
        XCTAssertNil(file.metadata["tokenizer.ggml.merges"], "no byte-level merges")
        let tokens = try XCTUnwrap(file.stringArray("tokenizer.ggml.tokens")), types = try XCTUnwrap(file.intArray("tokenizer.ggml.token_type"))
        XCTAssertEqual(Array(tokens.prefix(2)), ["<unk>", "a"])
        XCTAssertEqual(Array(types.prefix(2)), [2, 1], "UNKNOWN, NORMAL")
        XCTAssertEqual(Set(types.dropFirst(2)), [5], "the ids the file does not name are UNUSED padding")
        XCTAssertEqual(file.int("tokenizer.ggml.unknown_token_id"), 0)
        XCTAssertEqual(try TokenizerLoader.load(gguf: file).encode("a", addSpecialTokens: false), [1])
    }
}
