// Shared helpers for the tokenizer tests: loading fixtures and llama.cpp's tokenizer test vectors.
import Foundation
import XCTest
import Checkpoints
import Tokenizers
import TestSupport

enum TokenizerFixtures {
    static func huggingFace(_ name: String) throws -> Tokenizer {
        try TokenizerLoader.load(folder: Fixtures.fixture(name).path)
    }

    static func gguf(_ url: URL) throws -> Tokenizer {
        try TokenizerLoader.load(gguf: GGUFFile(url: url))
    }

    /// llama.cpp's `.inp`/`.out` pairs: inputs separated by "\n__ggml_vocab_test__\n" (the text after the
    /// last separator is not an input), expected ids space-separated, one line per input.
    static func llamaCppVectors(_ vocab: String) throws -> [(text: String, ids: [Int])] {
        let inp = try String(contentsOf: Fixtures.data("vocab/\(vocab).inp"), encoding: .utf8)
        let out = try String(contentsOf: Fixtures.data("vocab/\(vocab).out"), encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        inputs.removeLast()
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        guard inputs.count == lines.count else {
            throw XCTSkip("\(vocab): \(inputs.count) inputs but \(lines.count) expected lines")
        }
        return zip(inputs, lines).map { text, line in
            (text, line.split(separator: " ").map { Int($0)! })
        }
    }

    static func jsonObject(_ url: URL) throws -> [String: Any] {
        try XCTUnwrap(try Fixtures.json(url) as? [String: Any])
    }
}

/// Both concrete tokenizers offer llama.cpp's `parse_special = false`.
func encodeWithoutParsingSpecial(_ tokenizer: Tokenizer, _ text: String) -> [Int] {
    if let bpe = tokenizer as? ByteLevelBPETokenizer { return bpe.encode(text, addSpecialTokens: false, parseSpecial: false) }
    if let spm = tokenizer as? SentencePieceTokenizer { return spm.encode(text, addSpecialTokens: false, parseSpecial: false) }
    return tokenizer.encode(text, addSpecialTokens: false)
}
