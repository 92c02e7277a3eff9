// `hayai tokenize`: text to token ids with a model's tokenizer (or a vocab-only GGUF).
import ArgumentParser
import Foundation
import Tokenizers

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text.",
        discussion: "MODEL is a Hugging Face folder (tokenizer.json, or a SentencePiece tokenizer.model / spiece.model), a SentencePiece .model file, or a .gguf file, vocab-only files included.")

    @Argument(help: "A Hugging Face model folder, a SentencePiece .model file or a .gguf file.")
    var model: String

    @OptionGroup var input: TextInput

    @Flag(help: "Do not add BOS/EOS as the tokenizer's post-processor would.")
    var noSpecial = false

    @Flag(help: "Print {\"ids\":[...]} instead of one id and its text piece per line.")
    var json = false

    func validate() throws {
        guard input.isGiven else { throw ValidationError("give the text with --text TEXT or --file PATH") }
    }

    /// Bytes as text: whole UTF-8 characters as themselves, any other byte as <0xNN>.
    static func text(of bytes: [UInt8]) -> String {
        var out = "", i = 0
        while i < bytes.count {
            let lead = bytes[i]
            let width = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            if width > 0, i + width <= bytes.count, let s = String(validating: bytes[i..<i + width], as: UTF8.self) {
                out += s; i += width
            } else {
                out += String(format: "<0x%02X>", lead); i += 1
            }
        }
        return out
    }

    func run() throws {
        let tokenizer = try TokenizerLoader.load(path: model)
        let text = try input.resolve() ?? ""
        let ids = tokenizer.encode(text, addSpecialTokens: !noSpecial)
        if json {
            print("{\"ids\":\(JSON.array(ids))}")
        } else {
            // The piece as text (a token's bytes, decoded), with bytes that are part of a character split
            // across tokens as <0xNN>; special tokens by name. The vocabulary's byte-level spelling
            // (`æĹ` for a Japanese byte pair) says nothing to a reader.
            for id in ids {
                let piece = tokenizer.isSpecial(id) ? (tokenizer.tokenString(id) ?? "") : Self.text(of: tokenizer.tokenBytes(id))
                print("\(id)\t\(JSON.string(piece))")
            }
        }
    }
}
