// The tokenizer contract the rest of hayai uses: text to ids and back, special tokens, and the raw
// bytes of each token (so streaming can hold back incomplete UTF-8). Implementations: byte-level BPE
// (tokenizer.json, GGUF `gpt2`) and SentencePiece-style (GGUF `llama`).
import Foundation

public protocol Tokenizer: AnyObject, Sendable {
    /// Number of ids (including added and special tokens).
    var vocabularySize: Int { get }
    var bosTokenID: Int? { get }
    /// Tokens that end generation (eos, and eot/im_end where the files name them).
    var eosTokenIDs: [Int] { get }
    /// Whether `encode(_:addSpecialTokens: true)` prepends BOS (and what else the post-processor adds).
    var addsBOS: Bool { get }

    /// Text to ids, as Hugging Face `tokenizer(text)` / llama.cpp `llama_tokenize(add_special, parse_special: true)`:
    /// special and added tokens written inline in the text are matched as single tokens.
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// Ids to text; invalid UTF-8 (a token cut mid-character) becomes U+FFFD.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String
    /// The bytes token `id` stands for when decoded (control tokens: their text, e.g. "<|im_end|>").
    func tokenBytes(_ id: Int) -> [UInt8]
    /// The vocabulary string of `id` as stored (e.g. "Ġthe"), or nil when out of range.
    func tokenString(_ id: Int) -> String?
    /// The id of a vocabulary string, or nil.
    func tokenID(_ token: String) -> Int?
    /// Control/special tokens (BOS, EOS, chat markers) that `decode(skipSpecialTokens: true)` drops.
    func isSpecial(_ id: Int) -> Bool
}
