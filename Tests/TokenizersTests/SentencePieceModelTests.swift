// SentencePiece .model files (Japanese and English, unigram and BPE, byte fallback, user-defined and
// control symbols, nmt_nfkc and identity normalizers) encode and decode exactly as the sentencepiece
// library does, on the same 600+ strings, and stream without splitting a character.
import XCTest
import Tokenizers
import TestSupport

final class SentencePieceModelTests: XCTestCase {
    static let models = ["kyoto_ja_unigram_8000.model", "botchan_en_unigram_1000.model", "botchan_en_bpe_1000.model",
                         "botchan_bpe_bytefallback.model", "botchan_unigram_identity.model"]

    private func checkAgainstLibrary(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try SentencePieceReference.modelFolder().appendingPathComponent(name)
        let tokenizer = try SentencePieceModelTokenizer(path: url.path)
        let texts = try SentencePieceTestStrings.all()
        XCTAssertGreaterThanOrEqual(texts.count, 500)
        let reference = try SentencePieceReference.answers(model: url, texts: texts)
        var mismatches = 0
        for (i, text) in texts.enumerated() {
            let ids = tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
            if ids != reference.encoded[i] {
                mismatches += 1
                if mismatches <= 10 {
                    XCTFail("\(name): \(text.debugDescription)\n got      \(ids)\n expected \(reference.encoded[i])", file: file, line: line)
                }
            }
            let decoded = tokenizer.decode(reference.encoded[i], skipSpecialTokens: false)
            if decoded != reference.decoded[i] {
                mismatches += 1
                if mismatches <= 10 {
                    XCTFail("\(name): decode of \(text.debugDescription): \(decoded.debugDescription) != \(reference.decoded[i].debugDescription)",
                            file: file, line: line)
                }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) differences in \(texts.count) strings", file: file, line: line)
        print("\(name): \(texts.count) strings, \(mismatches) differences from sentencepiece")
    }

    func testJapaneseUnigramModelMatchesSentencePiece() throws { try checkAgainstLibrary(Self.models[0]) }
    func testEnglishUnigramModelMatchesSentencePiece() throws { try checkAgainstLibrary(Self.models[1]) }
    func testEnglishBPEModelMatchesSentencePiece() throws { try checkAgainstLibrary(Self.models[2]) }
    func testByteFallbackBPEWithUserSymbolsMatchesSentencePiece() throws { try checkAgainstLibrary(Self.models[3]) }
    func testIdentityUnigramKeepingWhitespaceMatchesSentencePiece() throws { try checkAgainstLibrary(Self.models[4]) }
}
