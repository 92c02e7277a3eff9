// `hayai quantize IN OUT --type TYPE`: a Hugging Face folder or GGUF to a GGUF llama.cpp loads;
// `hayai quantize --synthetic NAME --vocab V.gguf OUT --type TYPE`: random weights of a published shape.
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

            Types: q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q4_k q5_k q6_k q4_k_m q5_k_m q3_k_m iq4_nl iq4_xs f16 f32. Norms and \
            biases stay F32; output.weight is Q6_K for the 2/3/4/5/6-bit types (as llama-quantize); q4_k_m and q5_k_m \
            put about half of the attn_v and ffn_down matrices in Q6_K; q3_k_m puts attn_v, ffn_down and attn_output \
            in Q4_K (Q5_K for the first layers' attn_v and ffn_down); q2_k puts attn_output and ffn_down in Q3_K and \
            attn_v in Q3_K (Q4_K with 4 or more query heads per KV head), as llama-quantize's Q2_K; iq4_nl and iq4_xs \
            put the first eighth of the ffn_down matrices, and attn_v where 4 or more query heads share a KV head, in \
            Q5_K (llama-quantize without an importance matrix); rows that are not whole blocks fall back to a 32-block \
            type or F16. Progress goes to standard error.

            --synthetic NAME writes random weights of a published shape (\(SyntheticShape.allCases.map(\.rawValue).joined(separator: ", ")); \
            as `hayai bench --synthetic` builds them) with the tokenizer of --vocab (a GGUF, e.g. a vocab-only one), \
            padded to the shape's vocabulary: a model of that size to train (`train sft --base OUT`) or run without \
            a download. Give only OUT then.
            """)

    @Argument(help: ArgumentHelp("IN (a Hugging Face model folder or a .gguf file) and OUT (the GGUF file to write); only OUT with --synthetic.",
                                 valueName: "in-out"))
    var paths: [String] = []

    @Option(help: "Write random weights of this shape instead of converting IN.")
    var synthetic: SyntheticShape?

    @Option(help: ArgumentHelp("With --synthetic: the GGUF whose tokenizer (tokenizer.ggml.*) the file carries.", valueName: "file"))
    var vocab: String?

    @Option(name: [.customShort("t"), .long], help: "Target type: \(QuantizeTarget.allCases.map(\.rawValue).joined(separator: ", ")).")
    var type: QuantizeTarget

    @Flag(name: .shortAndLong, help: "Print every tensor as it is written.")
    var verbose = false

    func validate() throws {
        if synthetic != nil {
            guard paths.count == 1 else { throw ValidationError("with --synthetic give only OUT, the GGUF file to write") }
            guard vocab != nil else { throw ValidationError("--synthetic needs --vocab FILE.gguf (the tokenizer the model carries)") }
            return
        }
        guard vocab == nil else { throw ValidationError("--vocab goes with --synthetic") }
        guard paths.count == 2 else { throw ValidationError("give IN and OUT (or --synthetic NAME --vocab FILE OUT)") }
        let a = (paths[0] as NSString).standardizingPath, b = (paths[1] as NSString).standardizingPath
        if a == b { throw ValidationError("OUT must differ from IN") }
    }

    func run() throws {
        let start = Date()
        let output = paths.last!
        let summary: GGUFExportSummary
        if let synthetic, let vocab {
            summary = try GGUFExport.writeSynthetic(synthetic, target: type, vocabulary: vocab, output: output)
        } else {
            summary = try GGUFExport.quantize(input: paths[0], output: output, target: type) { line in
                if verbose { CLI.printError(line) }
            }
        }
        let types = summary.typeCounts.sorted { $0.value > $1.value }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
        CLI.printError("wrote \(output): \(summary.tensors) tensors (\(types)), \(summary.parameters) parameters, "
                       + "\(CLI.fixed(Double(summary.bytes) / 1_048_576, 2)) MiB in \(CLI.fixed(Date().timeIntervalSince(start), 1)) s")
    }
}
