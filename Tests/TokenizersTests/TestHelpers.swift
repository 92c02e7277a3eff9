// Shared helpers for the tokenizer tests: loading fixtures (llama.cpp's tokenizer test vectors: Fixtures.llamaCppVocabularyVectors).
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
