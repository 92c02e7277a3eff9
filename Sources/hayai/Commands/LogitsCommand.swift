// `hayai logits`: the model's raw next-token scores, for comparing against other implementations.
import ArgumentParser
import Foundation
import Inference

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print the logits a model computes for a token sequence.",
        discussion: "Prints {\"ids\":[...],\"logits\":[[...]]}: the last position, or every position with --all-positions.")

    @OptionGroup var options: ModelOptions

    @Option(help: "Comma-separated token ids.")
    var ids: String?

    @OptionGroup var input: TextInput

    @Flag(help: "Logits for every position, not only the last.")
    var allPositions = false

    @Flag(help: "Print JSON (the only format).")
    var json = false

    func validate() throws {
        guard (ids != nil) != input.isGiven else { throw ValidationError("give exactly one of --ids, --text or --file") }
    }

    func run() throws {
        let model = try Model.load(path: options.model, adapter: options.adapter)
        let tokens: [Int]
        if let ids {
            tokens = try ids.split(separator: ",").map {
                guard let id = Int($0.trimmingCharacters(in: .whitespaces)) else { throw UserError("--ids: '\($0)' is not a token id") }
                return id
            }
        } else {
            guard let tokenizer = model.tokenizer else { throw UserError("\(options.model): the checkpoint has no tokenizer; use --ids") }
            tokens = tokenizer.encode(try input.resolve() ?? "", addSpecialTokens: true)
        }
        var runtime = options.runtime
        runtime.contextLength = runtime.contextLength ?? min(model.config.maxPositions, max(tokens.count, 1))
        let session = try InferenceSession(model: model, runtime: runtime)
        guard tokens.count <= model.config.maxPositions else {
            throw InferenceError.contextOverflow(tokens: tokens.count, context: model.config.maxPositions)
        }
        let logits = try session.forward(tokens, logits: allPositions ? .all : .last)
        let vocab = model.config.vocabSize
        let rows = stride(from: 0, to: logits.count, by: vocab).map { JSON.array(logits[$0..<$0 + vocab]) }
        print("{\"ids\":\(JSON.array(tokens)),\"logits\":[\(rows.joined(separator: ","))]}")
    }
}
