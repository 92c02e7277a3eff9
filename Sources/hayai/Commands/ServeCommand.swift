// `hayai serve MODEL`: an OpenAI-compatible server on loopback (Serving's OpenAIServer); this parses,
// opens the model as every command does, starts the server and waits for Ctrl-C or SIGTERM.
import ArgumentParser
import Chat
import Dispatch
import Foundation
import Inference
import Serving

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a model over an OpenAI-compatible HTTP API (127.0.0.1 by default).",
        discussion: """
            GET /v1/models, POST /v1/completions (prompt as text or token ids; echo + logprobs give the \
            prompt's per-token log-probabilities, as lm-eval's local-completions scores), POST /v1/chat/completions \
            (the checkpoint's chat template, or --template), GET /health; stream: true sends server-sent events. \
            Requests are answered one at a time in arrival order; a request that starts with the tokens the \
            previous one left in the KV cache computes only the rest. Ctrl-C or SIGTERM stops accepting, cuts \
            the answer in progress and exits 0. One line per request goes to standard error.
            """)

    @OptionGroup var options: ModelOptions

    @Option(help: "Address to listen on (loopback by default; another address serves the machine's network).")
    var host = "127.0.0.1"

    @Option(help: "Port (0: any free port; the line printed at start says which).")
    var port = 8080

    @Option(help: ArgumentHelp("Chat format from prompts/ for /v1/chat/completions (default: detected from the checkpoint).", valueName: "name"))
    var template: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() throws {
        let model = try LocalLanguageModel(path: options.model, adapter: options.adapter, runtime: options.runtime)
        let library = TemplateLibrary.standard()
        let detection = TemplateDetection.detect(model: model.model, library: library)
        let chatTemplate = try template.map { try library.template(named: $0) } ?? detection.template
        var serveOptions = ServeOptions()
        serveOptions.host = host
        serveOptions.port = UInt16(port)
        if let adapter = options.adapter { serveOptions.modelID = "\(model.name)+\((adapter as NSString).lastPathComponent)" }
        let server = try OpenAIServer(model: model, template: chatTemplate, checkpointSystem: template == nil ? detection.defaultSystem : nil,
                                      options: serveOptions)
        let outcome = TaskOutcome()
        let done = DispatchSemaphore(value: 0)
        // SIGINT and SIGTERM: stop accepting, cut the answer in progress, exit 0 once answers in flight are sent.
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                CLI.printError("hayai serve: stopping")
                Task { await server.stop() }
            }
            source.resume()
            sources.append(source)
        }
        Task {
            do {
                let bound = try await server.start()
                let shown = host.contains(":") ? "[\(host)]" : host
                print("hayai serve: http://\(shown):\(bound)/v1 (model \(server.modelID), context \(model.contextLength), "
                      + "chat template \(chatTemplate.name); Ctrl-C to stop)")
                fflush(stdout)
                await server.wait()
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        for source in sources { source.cancel() }
        if let error = outcome.error { throw UserError("serve: \(error)") }
    }
}
