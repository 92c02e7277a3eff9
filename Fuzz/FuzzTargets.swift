// The readers of files users hand to hayai, one fuzz target each: the bytes are written where the
// reader expects a file, the reader runs, and whatever it accepts is used a little (tokenize, plan,
// dequantize, one forward step) so the code behind the parser is reached too. Errors are the expected
// outcome for most inputs; only a crash, a sanitizer report or a hang is a finding.
import Foundation
import Basics
import Checkpoints
import Tokenizers
import Inference
import Evaluation
import Chat
import RunStore
import Serving

enum FuzzTarget: String, CaseIterable {
    case gguf, safetensors, config, tokenizerJSON = "tokenizer-json", sentencepiece, taskYAML = "task-yaml", jsonl
    case savedChat = "saved-chat", runStore = "run-store"
    /// An HTTP request body for `hayai serve`: the first byte picks the route (even: /v1/completions, odd:
    /// /v1/chat/completions), the rest is the body, answered by a server on the tiny fixture model
    /// ($HAYAI_FUZZ_MODEL) as its routes answer, streamed answers read to the end.
    case serveRequest = "serve-request"

    /// The file name the reader looks for.
    var fileName: String {
        switch self {
        case .gguf: return "model.gguf"
        case .safetensors: return "model.safetensors"
        case .config: return "config.json"
        case .tokenizerJSON: return "tokenizer.json"
        case .sentencepiece: return "tokenizer.model"
        case .taskYAML: return "task.yaml"
        case .jsonl: return "items.jsonl"
        case .savedChat: return "chat.json"
        case .runStore: return RunStore.databaseFileName
        case .serveRequest: return "request.bin"
        }
    }

    /// A fresh folder per process, emptied after each input.
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    /// Runs one input; returns the error the reader gave, or nil when it accepted the input.
    @discardableResult
    func run(_ data: Data) -> Error? {
        let dir = Self.folder
        let file = dir.appendingPathComponent(fileName)
        defer {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] {
                try? FileManager.default.removeItem(at: dir.appendingPathComponent(name))
            }
        }
        do {
            try data.write(to: file)
            try exercise(file)
            return nil
        } catch {
            return error
        }
    }

    /// Seeds that have no file in the fixtures to start from (a saved chat, a run store), written by
    /// the same code that writes them for users.
    func makeSeeds(in dir: URL) throws {
        switch self {
        case .savedChat:
            let conversation = Conversation(system: "Be brief.", turns: [Turn(user: "こんにちは", assistant: "Hello!"), Turn(user: "2+2?", assistant: "4")])
            try SavedChat(model: "model.gguf", template: "chatml", conversation: conversation, settings: ChatSettings())
                .write(to: dir.appendingPathComponent("chat.json"))
        case .runStore:
            let workspace = dir.appendingPathComponent("workspace")
            // In a function of its own so the store is closed (its WAL checkpointed into the file) before the copy.
            func fill() throws -> URL {
                let store = try RunStore.open(workspace: workspace)
                let run = try store.createRun(kind: .pretrain, name: "seed", model: "tiny", config: "{\"lr\": 0.001}")
                for step in 0..<3 { try store.log(run: run, step: step, tokens: 128 * step, metrics: ["loss": 4.0 - Double(step)]) }
                _ = try store.createRun(kind: .eval, name: "seed-eval", model: "tiny")
                return store.databaseURL
            }
            try FileManager.default.copyItem(at: try fill(), to: dir.appendingPathComponent("store.sqlite"))
            try FileManager.default.removeItem(at: workspace)
        case .serveRequest:
            let bodies: [(UInt8, String)] = [
                (0, #"{"prompt": "The quick brown fox", "max_tokens": 4, "temperature": 0}"#),
                (0, #"{"prompt": [[1, 2, 3]], "max_tokens": 0, "echo": true, "logprobs": 2}"#),
                (0, #"{"prompt": "Once", "max_tokens": 3, "stream": true, "stop": ["\n"], "seed": 7, "top_k": 5, "top_p": 0.9, "min_p": 0.05}"#),
                (1, #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "こんにちは"}], "max_tokens": 4}"#),
                (1, #"{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3, "stream": true, "stream_options": {"include_usage": true}}"#),
            ]
            for (i, (route, body)) in bodies.enumerated() {
                try (Data([route]) + Data(body.utf8)).write(to: dir.appendingPathComponent("request-\(i).bin"))
            }
        default:
            break
        }
    }

    /// The one server the serve-request target answers with (the model loads once per process).
    static let server: OpenAIServer = {
        let path = ProcessInfo.processInfo.environment["HAYAI_FUZZ_MODEL"] ?? "../shared/fixtures/stablelm-tiny"
        do {
            let model = try LocalLanguageModel(path: path, runtime: RuntimeOptions(threads: 1, contextLength: 256))
            let server = try OpenAIServer(model: model, template: try TemplateLibrary.standard().template(named: "chatml"))
            server.log = { _ in }
            return server
        } catch {
            fatalError("serve-request needs a model: set HAYAI_FUZZ_MODEL (\(path): \(error))")
        }
    }()

    private func exercise(_ file: URL) throws {
        let sample = "Hello, world! こんにちは 123 <|endoftext|>\n\t"
        func use(_ tokenizer: Tokenizer) {
            let ids = tokenizer.encode(sample, addSpecialTokens: true)
            _ = tokenizer.decode(ids, skipSpecialTokens: false)
        }
        switch self {
        case .gguf:
            let gguf = try GGUFFile(path: file.path)
            for info in gguf.tensors.prefix(64) where info.elementCount <= 1 << 20 { _ = try? gguf.floats(info) }
            if gguf.string("tokenizer.ggml.model") != nil, let tokenizer = try? TokenizerLoader.load(gguf: gguf) { use(tokenizer) }
            let model = try Model.loadGGUF(gguf)
            let session = InferenceSession(model: model, contextLength: 4, batchSize: 2, threads: 1)
            _ = try session.forward([0, min(1, model.config.vocabSize - 1)])
        case .safetensors:
            let st = try SafetensorsFile(path: file.path)
            for info in st.tensorInfos.values.prefix(64) where info.elementCount <= 1 << 20 { _ = try st.floats(info) }
        case .config:
            let config = try HFConfig.load(path: file.path).resolve(path: file.path)
            _ = DecoderPlan(config: config).weights.count
        case .tokenizerJSON:
            use(try TokenizerLoader.load(folder: file.deletingLastPathComponent().path))
        case .sentencepiece:
            use(try TokenizerLoader.load(path: file.path))
        case .taskYAML:
            _ = try EvalTask.load(path: file.path, environment: [:])
        case .jsonl:
            _ = try JSONLines.read(path: file.path, skipBadLines: true, limit: 1000) { line, _ in try JSONLines.object(line) }
        case .savedChat:
            _ = try SavedChat.read(from: file)
        case .runStore:
            let store = try RunStore.open(workspace: file.deletingLastPathComponent())
            for run in try store.runs(limit: 20) { _ = try? store.metrics(run: run) }
        case .serveRequest:
            let data = try Data(contentsOf: file)
            let path = (data.first ?? 0) % 2 == 0 ? "/v1/completions" : "/v1/chat/completions"
            let server = Self.server
            let done = DispatchSemaphore(value: 0)
            Task {
                _ = try? await server.answer(post: path, body: data.dropFirst()).bodyData
                done.signal()
            }
            done.wait()
        }
    }
}
