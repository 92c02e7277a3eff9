// `hayai quantize IN OUT --type TYPE`: a Hugging Face folder or GGUF to a GGUF llama.cpp loads.
import ArgumentParser
import Foundation
import Inference

extension QuantizeTarget: ExpressibleByArgument {}

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Write a model as a quantized GGUF file (llama.cpp's formats and metadata).",
        discussion: """
            IN is a Hugging Face folder (config.json, model.safetensors, tokenizer.json) or a .gguf file. \
            From a folder the file has the keys, tensor names and layouts llama.cpp's converter writes; \
            from a GGUF the metadata is kept and only the tensor types change.

            Types: q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m f16 f32. Norms and biases stay F32; \
            output.weight is Q6_K for the 4/5/6-bit types (as llama-quantize); q4_k_m and q5_k_m put about \
            half of the attn_v and ffn_down matrices in Q6_K; rows that are not whole blocks fall back to a \
            32-block type or F16. Progress goes to standard error.
            """)

    @Argument(help: "A Hugging Face model folder or a .gguf file.")
    var input: String

    @Argument(help: "The GGUF file to write.")
    var output: String

    @Option(name: [.customShort("t"), .long], help: "Target type: \(QuantizeTarget.allCases.map(\.rawValue).joined(separator: ", ")).")
    var type: QuantizeTarget

    @Flag(name: .shortAndLong, help: "Print every tensor as it is written.")
    var verbose = false

    func validate() throws {
        let a = (input as NSString).standardizingPath, b = (output as NSString).standardizingPath
        if a == b { throw ValidationError("OUT must differ from IN") }
    }

    func run() throws {
        let start = Date()
        let summary = try GGUFExport.quantize(input: input, output: output, target: type) { line in
            if verbose { CLI.printError(line) }
        }
        let types = summary.typeCounts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        CLI.printError("wrote \(output): \(summary.tensors) tensors (\(types)), \(summary.parameters) parameters, "
                       + "\(CLI.fixed(Double(summary.bytes) / 1_048_576, 2)) MiB in \(CLI.fixed(Date().timeIntervalSince(start), 1)) s")
    }
}
