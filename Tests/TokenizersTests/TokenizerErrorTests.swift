// Bad input is a thrown TokenizerError whose one-line message names the file.
import XCTest
import Tokenizers
import TestSupport

final class TokenizerErrorTests: XCTestCase {
    private var folder: URL!

    override func setUp() { folder = Fixtures.temporaryDirectory("hayai-tok-err") }
    override func tearDown() { try? FileManager.default.removeItem(at: folder) }

    private func assertThrowsNaming(_ path: String, _ fragment: String, _ body: () throws -> Tokenizer,
                                    file: StaticString = #filePath, line: UInt = #line) {
        assertOneLineError(path, fragment, of: TokenizerError.self, body, file: file, line: line)
    }

    func testFolderWithoutTokenizerJSONIsRejected() {
        assertThrowsNaming(folder.path, "no tokenizer.json") { try TokenizerLoader.load(folder: folder.path) }
        assertThrowsNaming(folder.path, "no tokenizer.json") { try TokenizerLoader.load(path: folder.path) }
    }

    func testMissingPathIsRejected() {
        let path = folder.appendingPathComponent("nothing-here").path
        assertThrowsNaming(path, "no such file") { try TokenizerLoader.load(path: path) }
    }

    func testMalformedJSONIsRejected() throws {
        let file = folder.appendingPathComponent("tokenizer.json")
        try Data("{\"model\": {\"type\": \"BPE\", ".utf8).write(to: file)
        assertThrowsNaming(file.path, "malformed") { try TokenizerLoader.load(folder: folder.path) }
    }

    func testUnsupportedModelTypeIsRejected() throws {
        let file = folder.appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#.utf8).write(to: file)
        assertThrowsNaming(file.path, "WordPiece") { try TokenizerLoader.load(folder: folder.path) }
    }

    func testUnsupportedPreTokenizerIsRejected() throws {
        let file = folder.appendingPathComponent("tokenizer.json")
        try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}"#.utf8)
            .write(to: file)
        assertThrowsNaming(file.path, "Whitespace") { try TokenizerLoader.load(folder: folder.path) }
    }

    func testUnknownGGUFPreTokenizerVariantIsRejected() throws {
        let file = folder.appendingPathComponent("vocab.gguf")
        try MiniGGUF.write([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("no-such-variant")),
                            ("tokenizer.ggml.tokens", .strings(["a", "b"])), ("tokenizer.ggml.merges", .strings(["a b"]))],
                           to: file)
        assertThrowsNaming(file.path, "no-such-variant") { try TokenizerLoader.load(path: file.path) }
    }

    func testUnsupportedGGUFModelIsRejected() throws {
        let file = folder.appendingPathComponent("vocab.gguf")
        try MiniGGUF.write([("tokenizer.ggml.model", .string("bert")), ("tokenizer.ggml.tokens", .strings(["a"]))], to: file)
        assertThrowsNaming(file.path, "bert") { try TokenizerLoader.load(path: file.path) }
    }

    func testGGUFTokenTypesOfTheWrongLengthAreRejected() throws {
        let file = folder.appendingPathComponent("vocab.gguf")
        try MiniGGUF.write([("tokenizer.ggml.model", .string("llama")), ("tokenizer.ggml.tokens", .strings(["a", "b", "c"])),
                            ("tokenizer.ggml.token_type", .ints([1, 1]))], to: file)
        assertThrowsNaming(file.path, "token_type") { try TokenizerLoader.load(path: file.path) }
    }

    func testGGUFWithoutTokensIsRejected() throws {
        let file = folder.appendingPathComponent("vocab.gguf")
        try MiniGGUF.write([("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.tokens", .ints([1, 2]))], to: file)
        assertThrowsNaming(file.path, "tokenizer.ggml.tokens") { try TokenizerLoader.load(path: file.path) }
    }
}
