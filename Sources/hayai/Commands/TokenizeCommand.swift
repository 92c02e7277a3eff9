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

    @Flag(help: "Print {\"ids\":[...]} instead of one id and its piece per line.")
    var json = false

    func validate() throws {
        guard input.isGiven else { throw ValidationError("give the text with --text TEXT or --file PATH") }
    }

    func run() throws {
        let tokenizer = try TokenizerLoader.load(path: model)
        let text = try input.resolve() ?? ""
        let ids = tokenizer.encode(text, addSpecialTokens: !noSpecial)
        if json {
            print("{\"ids\":\(JSON.array(ids))}")
        } else {
            for id in ids { print("\(id)\t\(JSON.string(tokenizer.tokenString(id) ?? ""))") }
        }
    }
}
