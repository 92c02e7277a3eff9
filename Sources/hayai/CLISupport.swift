// What every command shares: reading text that must be valid UTF-8, loading a model with its
// tokenizer, writing JSON and status lines, and the thread count.
import Basics
import Foundation
import ArgumentParser
import Checkpoints
import Inference
import Kernels
import Tokenizers
import Workbench

/// A one-line user error (bad flag combination, unreadable input); printed as `Error: message`.
struct UserError: Error, CustomStringConvertible, LocalizedError {
    let description: String
    init(_ description: String) { self.description = description }
    var errorDescription: String? { description }
}

enum CLI {
    /// Index of the first command-line argument that is not valid UTF-8 (Swift would silently repair it).
    static func firstInvalidUTF8Argument() -> Int? {
        for i in 0..<Int(CommandLine.argc) {
            guard let p = CommandLine.unsafeArgv[i] else { continue }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
            if String(validating: bytes, as: UTF8.self) == nil { return i }
        }
        return nil
    }

    /// The contents of a text file (or `data` read from it), which must be valid UTF-8.
    static func readText(file path: String, data: Data? = nil) throws -> String {
        guard let data = data ?? FileManager.default.contents(atPath: path) else { throw UserError("\(path): cannot read the file") }
        guard let text = String(validating: data, as: UTF8.self) else {
            let offset = firstInvalidUTF8Offset(data) ?? 0
            throw UserError("\(path): not valid UTF-8 (first bad byte at offset \(offset))")
        }
        return text
    }

    static func firstInvalidUTF8Offset(_ data: Data) -> Int? {
        var decoder = UTF8()
        var iterator = data.makeIterator()
        var offset = 0, consumed = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): consumed += UTF8.width(s); offset = consumed
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Loads a Hugging Face folder or a GGUF file with the tokenizer it carries.
    static func loadModel(_ path: String, adapter: String? = nil) throws -> (Model, Tokenizer) {
        let model = try Model.load(path: path, adapter: adapter)
        guard let tokenizer = model.tokenizer else {
            throw UserError("\(path): the checkpoint has no tokenizer (tokenizer.json or GGUF tokenizer metadata)")
        }
        return (model, tokenizer)
    }

    /// A `-t` value: at least 1, at most ThreadPool.threadLimit (4 × the cores). Over the limit is a
    /// plain one-line error with exit status 1 (a ValidationError would add the usage and exit 64).
    static func checkThreads(_ threads: Int?) throws {
        guard let t = threads else { return }
        if t < 1 { throw ValidationError("--threads must be at least 1") }
        if t > ThreadPool.threadLimit {
            throw UserError("--threads \(t) exceeds the limit of \(ThreadPool.threadLimit) (4 × the \(ThreadPool.availableCores) cores; ThreadPool.threadLimit)")
        }
    }

    /// A folder of the repository (evalsets, prompts, data); see Repository.folder.
    static func findRepositoryFolder(_ name: String) -> String? { Repository.folder(name) }

    /// Folders named by environment variables are read relative to other files later (a task file's
    /// `${HAYAI_DATA}`): a relative value is made absolute against the current directory once, here.
    static func absolutizePathVariables() {
        let cwd = FileManager.default.currentDirectoryPath
        for name in ["HAYAI_DATA", "HAYAI_HOME", "HAYAI_EVALSETS", "HAYAI_PROMPTS", "HAYAI_CACHE"] {
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty, !value.hasPrefix("/") else { continue }
            let absolute = value.split(separator: ":").map { part -> String in
                part.hasPrefix("/") ? String(part) : URL(fileURLWithPath: cwd).appendingPathComponent(String(part)).standardizedFileURL.path
            }.joined(separator: ":")
            setenv(name, absolute, 1)
        }
    }

    /// A number with `digits` decimals.
    static func fixed(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

    static func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    static func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}

/// JSON text for numbers and arrays, written by hand for speed (logits are large) and exact floats.
enum JSON {
    static func number(_ f: Float) -> String { JSONLiteral.number(f) }
    static func number(_ d: Double) -> String { JSONLiteral.number(d) }
    static func array(_ ints: [Int]) -> String { "[" + ints.map(String.init).joined(separator: ",") + "]" }
    static func array<C: Collection>(_ floats: C) -> String where C.Element == Float {
        "[" + floats.map(number).joined(separator: ",") + "]"
    }
    static func string(_ s: String) -> String { JSONLiteral.string(s) }
}

/// How models run (-t, --ctx, --kv-type): parsed once into the one RuntimeOptions value every model
/// the command opens is given.
struct RuntimeArguments: ParsableArguments {
    @Option(name: [.short, .long], help: "Threads for matrix products and attention, BLAS's included (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("ctx"), help: "Context length (default: the model's, at most 4096).")
    var contextLength: Int?

    @Option(name: .customLong("kv-type"), help: "KV cache storage: f32, f16 or q8_0.")
    var kvType: KVStorage = .f32

    var runtime: RuntimeOptions { RuntimeOptions(threads: threads, contextLength: contextLength, kvType: kvType) }

    func validate() throws {
        try CLI.checkThreads(threads)
        if let c = contextLength, c < 2 { throw ValidationError("--ctx must be at least 2") }
        if let c = contextLength, c > ModelConfig.contextLimit {
            throw UserError("--ctx \(c) exceeds the limit of \(ModelConfig.contextLimit) positions (ModelConfig.contextLimit)")
        }
    }
}

/// Options every model command takes.
struct ModelOptions: ParsableArguments {
    @Argument(help: "A Hugging Face model folder or a .gguf file.")
    var model: String

    @OptionGroup var runtimeArguments: RuntimeArguments

    @Option(help: ArgumentHelp("A PEFT LoRA adapter folder to run beside the model's weights.", valueName: "dir"))
    var adapter: String?

    var runtime: RuntimeOptions { runtimeArguments.runtime }
}

/// Text given inline or from a file (exactly one).
struct TextInput: ParsableArguments {
    @Option(name: .long, help: "The input text.")
    var text: String?

    @Option(name: .customLong("file"), help: "Read the input text from a UTF-8 file.")
    var file: String?

    var isGiven: Bool { text != nil || file != nil }

    func resolve() throws -> String? {
        if let file { return try CLI.readText(file: file) }
        return text
    }
}

/// A server task's error, handed to the main thread that blocks while it serves (dashboard, serve).
final class TaskOutcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    func set(_ error: Error) { lock.lock(); stored = error; lock.unlock() }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
}
