// `hayai merge BASE ADAPTER OUT`: a LoRA adapter folded into its base as one full checkpoint.
import ArgumentParser
import Foundation
import Inference
import Training

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a LoRA adapter into its base: a Hugging Face folder, or a GGUF with --gguf.",
        discussion: "BASE is the checkpoint the adapter was trained on (folder or .gguf); ADAPTER a PEFT LoRA folder.")

    @Argument(help: "The base checkpoint.") var base: String
    @Argument(help: "The adapter folder (adapter_config.json, adapter_model.safetensors).") var adapter: String
    @Argument(help: "Where the merged model goes (a folder; a .gguf file with --gguf).") var out: String

    @Option(help: ArgumentHelp("Write a GGUF of this type instead of a folder (\(QuantizeTarget.allCases.map(\.rawValue).joined(separator: ", "))).",
                               valueName: "type"))
    var gguf: String?

    func run() throws {
        let target = try gguf.map { name -> QuantizeTarget in
            guard let t = QuantizeTarget(rawValue: name.lowercased()) else {
                throw ValidationError("unknown --gguf type '\(name)' (\(QuantizeTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return t
        }
        try LoRAMerge.run(base: base, adapter: adapter, out: out, gguf: target)
        print("merged \(adapter) into \(base): \(out)")
    }
}
