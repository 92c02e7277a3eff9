// `hayai serve`: an OpenAI-compatible HTTP server (FlyingFox) in front of one model.
//
//   GET  /health               {"status": "ok"}
//   GET  /v1/models            the one model this server runs
//   POST /v1/completions       prompt as text, token ids or a list; max_tokens, temperature, top_p, top_k,
//                              min_p, stop, seed, stream (server-sent events ending `data: [DONE]`),
//                              logprobs N with echo (echo + logprobs + max_tokens 0: the prompt's per-token
//                              log-probabilities, which lm-eval's local-completions scores with)
//   POST /v1/chat/completions  messages through the model's chat template; streamed deltas
//
// Requests queue in arrival order in front of the model (ModelWorker). Errors are OpenAI's error
// object with its status (400 bad JSON or fields, 404 unknown model or route, 413 body over the
// limit, 400 prompt longer than the context, 503 while stopping).
import Basics
import Chat
import FlyingFox
import FlyingSocks
import Foundation
import Inference
import Kernels

public struct ServeOptions: Sendable {
    public var host = "127.0.0.1"
    /// 0: any free port (`start` returns it).
    public var port: UInt16 = 8080
    /// Bodies larger than this are refused with 413.
    public var maxBodyBytes = 8 << 20
    /// The model id clients name (default: the model's file or folder name).
    public var modelID: String?
    public init() {}
}

public final class OpenAIServer: @unchecked Sendable {
    public let options: ServeOptions
    public let modelID: String
    let worker: ModelWorker
    let template: ChatTemplate
    let checkpointSystem: String?
    private let server: HTTPServer
    private var task: Task<Void, Error>?
    private let created = Int(Date().timeIntervalSince1970)
    private let counter = Counter()
    /// One line per request (method, path, status, tokens, finish reason, seconds); stderr by default.
    public var log: @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// - template: the chat format for /v1/chat/completions (TemplateDetection picks it from the checkpoint).
    public init(model: LocalLanguageModel, template: ChatTemplate, checkpointSystem: String? = nil, options: ServeOptions = ServeOptions()) throws {
        self.options = options
        self.modelID = options.modelID ?? model.name
        self.worker = ModelWorker(model: model)
        self.template = template
        self.checkpointSystem = checkpointSystem
        let address: any SocketAddress
        do {
            if options.host.contains(":") {
                address = try sockaddr_in6.inet6(ip6: options.host, port: options.port)
            } else {
                address = try sockaddr_in.inet(ip4: options.host, port: options.port)
            }
        } catch {
            throw ServeError.cannotListen(host: options.host, port: options.port, reason: "not a numeric IPv4 or IPv6 address")
        }
        // The handler timeout bounds a whole non-streamed answer, queue wait included: a day, not FlyingFox's 15 s.
        server = HTTPServer(address: address, timeout: 86_400, logger: .disabled)
    }

    /// Starts listening and returns the port.
    public func start() async throws -> UInt16 {
        await addRoutes()
        let server = self.server
        let failure = Failure()
        task = Task { do { try await server.run() } catch { failure.set(error); throw error } }
        let deadline = Date().addingTimeInterval(10)
        while await !server.isListening {
            if let error = failure.error { throw ServeError.cannotListen(host: options.host, port: options.port, reason: "\(error)") }
            guard Date() < deadline else { throw ServeError.cannotListen(host: options.host, port: options.port, reason: "timed out") }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        switch await server.listeningAddress {
        case .ip4(_, let port)?: return port
        case .ip6(_, let port)?: return port
        default: throw ServeError.cannotListen(host: options.host, port: options.port, reason: "no address")
        }
    }

    /// Stops accepting, cuts the request being computed (Kernels' Interrupt, as Ctrl-C does elsewhere),
    /// answers queued ones 503, and waits up to `grace` seconds for answers in flight to be sent. The
    /// process-wide flag is lowered again once the model is idle (a process that goes on, a test, is
    /// not left interrupted).
    public func stop(grace: TimeInterval = 2) async {
        worker.stop()
        Interrupt.request()
        await server.stop(timeout: grace)
        task?.cancel()
        await worker.drain()
        Interrupt.clear()
    }

    /// Waits until the server has stopped.
    public func wait() async {
        _ = try? await task?.value
    }

    // MARK: routes

    private func addRoutes() async {
        await server.appendRoute("GET /health") { [self] _ in json(.object(["status": .string("ok")])) }
        await server.appendRoute("GET /v1/models") { [self] _ in
            json(.object(["object": .string("list"), "data": .array([.object([
                "id": .string(modelID), "object": .string("model"), "created": .int(created), "owned_by": .string("hayai"),
                "max_model_len": .int(worker.model.contextLength)])])]))
        }
        await server.appendRoute("POST /v1/completions") { [self] request in await respond(request) { try await completions($0) } }
        await server.appendRoute("POST /v1/chat/completions") { [self] request in await respond(request) { try await chat($0) } }
        await server.appendRoute("*") { [self] request in
            // An unread body would be read as the next request on this connection.
            _ = try? await readBody(request)
            return errorResponse(.unknownRoute(request.method.rawValue, request.path))
        }
    }

    /// Reads the body (413 past the limit), runs `handle`, and turns what it throws into an error object.
    private func respond(_ request: HTTPRequest, _ handle: (RequestFields) async throws -> HTTPResponse) async -> HTTPResponse {
        let started = Date()
        let body: Data
        do { body = try await readBody(request) } catch {
            return failed(error, method: request.method.rawValue, path: request.path, started: started)
        }
        return await respond(method: request.method.rawValue, path: request.path, body: body, handle)
    }

    private func respond(method: String, path: String, body: Data, _ handle: (RequestFields) async throws -> HTTPResponse) async -> HTTPResponse {
        let started = Date()
        do {
            return try await handle(try RequestFields(body: body))
        } catch {
            return failed(error, method: method, path: path, started: started)
        }
    }

    private func failed(_ error: Error, method: String, path: String, started: Date) -> HTTPResponse {
        let e = OpenAIError.from(error)
        log("\(method) \(path) \(e.status): \(e.message) (\(String(format: "%.2f", Date().timeIntervalSince(started))) s)")
        return errorResponse(e)
    }

    /// The answer to a POST of `body` to `path`, as the routes give it but without a socket: what the fuzz
    /// harness drives with arbitrary bytes.
    public func answer(post path: String, body: Data) async -> HTTPResponse {
        switch path {
        case "/v1/completions": return await respond(method: "POST", path: path, body: body) { try await completions($0) }
        case "/v1/chat/completions": return await respond(method: "POST", path: path, body: body) { try await chat($0) }
        default: return errorResponse(.unknownRoute("POST", path))
        }
    }

    /// The whole body, or 413 when it is over the limit (the rest is read and dropped, so the connection stays usable).
    func readBody(_ request: HTTPRequest) async throws -> Data {
        let limit = options.maxBodyBytes
        var data = Data(), over = false
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit { over = true }
        for try await chunk in request.bodySequence {
            if over { continue }
            data.append(chunk)
            if data.count > limit { over = true; data = Data() }
        }
        if over { throw OpenAIError.bodyTooLarge(limit: limit) }
        return data
    }

    private func checkModel(_ name: String?) throws {
        guard let name, !name.isEmpty else { return }
        let path = worker.model.model.path
        guard name == modelID || name == path || name == (path as NSString).lastPathComponent else {
            throw OpenAIError.unknownModel(name, served: modelID)
        }
    }

    // MARK: /v1/completions

    private func completions(_ fields: RequestFields) async throws -> HTTPResponse {
        let request = try CompletionRequest(fields)
        try checkModel(request.model)
        let id = "cmpl-\(counter.next())"
        let started = Date()
        // Tokenized and checked here, before anything is queued or streamed: a prompt over the
        // context is a 400, not an event inside a 200 stream.
        let model = worker.model
        let prompts = request.prompts.map {
            switch $0 {
            case .text(let s): return model.tokenizer.encode(s, addSpecialTokens: true)
            case .tokens(let t): return t
            }
        }
        for prompt in prompts { try Completion.check(prompt, model: model) }
        if request.settings.stream {
            return stream(id: id, object: "text_completion", started: started, path: "/v1/completions", usage: request.settings.streamUsage) { model, send in
                var outputs: [CompletionOutput] = []
                for (index, prompt) in prompts.enumerated() {
                    let output = try Completion.run(prompt, model: model, settings: request.settings, defaultMaxTokens: 16,
                                                    stop: request.settings.stop, echo: request.echo) { piece in
                        send(.object(["index": .int(index), "text": .string(piece), "logprobs": .null, "finish_reason": .null]))
                    }
                    outputs.append(output)
                    guard output.stopReason != .cancelled else { break }
                    _ = send(.object(["index": .int(index), "text": .string(""), "logprobs": .null, "finish_reason": .string(output.finishReason)]))
                }
                return outputs
            }
        }
        let outputs = try await worker.run { model in
            try prompts.map {
                try Completion.run($0, model: model, settings: request.settings, defaultMaxTokens: 16, stop: request.settings.stop,
                                   echo: request.echo, logprobs: request.logprobs)
            }
        }
        logDone("/v1/completions", outputs, started: started)
        let choices = outputs.enumerated().map { index, o in
            JSONValue.object(["index": .int(index), "text": .string(o.text), "logprobs": o.logprobs, "finish_reason": .string(o.finishReason)])
        }
        return json(.object(["id": .string(id), "object": .string("text_completion"), "created": .int(now()), "model": .string(modelID),
                             "choices": .array(choices), "usage": usage(outputs)]))
    }

    // MARK: /v1/chat/completions

    private func chat(_ fields: RequestFields) async throws -> HTTPResponse {
        let request = try ChatRequest(fields)
        try checkModel(request.model)
        let id = "chatcmpl-\(counter.next())"
        let started = Date()
        let template = self.template
        let system = request.system ?? checkpointSystem ?? template.systemDefault
        let stop = template.stopStrings + request.settings.stop
        let prompt = template.encode(template.render(system: system, turns: request.turns), with: worker.model.tokenizer)
        try Completion.check(prompt, model: worker.model)
        if request.settings.stream {
            return stream(id: id, object: "chat.completion.chunk", started: started, path: "/v1/chat/completions", usage: request.settings.streamUsage) { model, send in
                guard send(.object(["index": .int(0), "delta": .object(["role": .string("assistant"), "content": .string("")]),
                                    "finish_reason": .null])) else { return [] }
                let output = try Completion.run(prompt, model: model, settings: request.settings, defaultMaxTokens: model.contextLength,
                                                stop: stop) { piece in
                    send(.object(["index": .int(0), "delta": .object(["content": .string(piece)]), "finish_reason": .null]))
                }
                if output.stopReason != .cancelled {
                    _ = send(.object(["index": .int(0), "delta": .object([:]), "finish_reason": .string(output.finishReason)]))
                }
                return [output]
            }
        }
        let output = try await worker.run { model in
            try Completion.run(prompt, model: model, settings: request.settings, defaultMaxTokens: model.contextLength, stop: stop)
        }
        logDone("/v1/chat/completions", [output], started: started)
        let choice = JSONValue.object(["index": .int(0), "message": .object(["role": .string("assistant"), "content": .string(output.text)]),
                                       "logprobs": .null, "finish_reason": .string(output.finishReason)])
        return json(.object(["id": .string(id), "object": .string("chat.completion"), "created": .int(now()), "model": .string(modelID),
                             "choices": .array([choice]), "usage": usage([output])]))
    }

    // MARK: streaming

    /// A server-sent-event response fed from the model thread. `produce` gets a `send` for each
    /// choice delta (false: the client is gone, stop) and returns what it generated. An error before
    /// the first event is an error event (`data: {"error": ...}`), as OpenAI sends mid-stream; requests are
    /// checked before they get here, so that is a failure of the server, not of the request.
    private func stream(id: String, object: String, started: Date, path: String, usage includeUsage: Bool,
                        produce: @escaping (LocalLanguageModel, (JSONValue) -> Bool) throws -> [CompletionOutput]) -> HTTPResponse {
        let channel = EventChannel()
        let created = now(), modelID = self.modelID
        func event(_ payload: String) -> Data { Data(("data: " + payload + "\n\n").utf8) }
        func chunk(_ choices: [JSONValue], usage: JSONValue? = nil) -> Data {
            var o: [String: JSONValue] = ["id": .string(id), "object": .string(object), "created": .int(created), "model": .string(modelID),
                                          "choices": .array(choices)]
            if let usage { o["usage"] = usage }
            return event(JSONValue.object(o).jsonText)
        }
        worker.enqueue({ [self] model in
            do {
                let outputs = try produce(model) { choice in channel.send(chunk([choice])) }
                if includeUsage { _ = channel.send(chunk([], usage: usage(outputs))) }
                _ = channel.send(event("[DONE]"))
                logDone(path, outputs, started: started, clientGone: channel.isCancelled)
            } catch {
                let e = OpenAIError.from(error)
                _ = channel.send(event(e.json.jsonText))
                log("POST \(path) \(e.status): \(e.message) (streamed)")
            }
            channel.finish()
        }, refused: {
            _ = channel.send(event(OpenAIError.shuttingDown.json.jsonText))
            channel.finish()
        })
        return HTTPResponse(statusCode: .ok, headers: [.contentType: "text/event-stream", HTTPHeader("Cache-Control"): "no-cache"],
                            body: channel.body)
    }

    // MARK: pieces

    private func usage(_ outputs: [CompletionOutput]) -> JSONValue {
        let prompt = outputs.reduce(0) { $0 + $1.promptTokens }, completion = outputs.reduce(0) { $0 + $1.completionTokens }
        return .object(["prompt_tokens": .int(prompt), "completion_tokens": .int(completion), "total_tokens": .int(prompt + completion),
                        "prompt_tokens_details": .object(["cached_tokens": .int(outputs.reduce(0) { $0 + $1.cachedTokens })])])
    }

    private func logDone(_ path: String, _ outputs: [CompletionOutput], started: Date, clientGone: Bool = false) {
        let prompt = outputs.reduce(0) { $0 + $1.promptTokens }, cached = outputs.reduce(0) { $0 + $1.cachedTokens }
        let generated = outputs.reduce(0) { $0 + $1.completionTokens }
        let finish = outputs.map(\.finishReason).joined(separator: ",")
        log("POST \(path) 200: \(prompt) prompt tokens (\(cached) cached), \(generated) generated, finish \(finish)"
            + (clientGone ? " (client disconnected)" : "") + String(format: ", %.2f s", Date().timeIntervalSince(started)))
    }

    private func now() -> Int { Int(Date().timeIntervalSince1970) }

    func json(_ value: JSONValue, status: HTTPStatusCode = .ok) -> HTTPResponse {
        HTTPResponse(statusCode: status, headers: [.contentType: "application/json"], body: Data(value.jsonText.utf8))
    }

    func errorResponse(_ e: OpenAIError) -> HTTPResponse {
        json(e.json, status: HTTPStatusCode(e.status, phrase: Self.phrase(e.status)))
    }

    static func phrase(_ status: Int) -> String {
        switch status {
        case 400: return "Bad Request"
        case 404: return "Not Found"
        case 413: return "Content Too Large"
        case 503: return "Service Unavailable"
        default: return "Internal Server Error"
        }
    }

    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int { lock.lock(); defer { lock.unlock() }; value += 1; return value }
    }

    final class Failure: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Error?
        func set(_ e: Error) { lock.lock(); stored = e; lock.unlock() }
        var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    }
}

public enum ServeError: Error, CustomStringConvertible {
    case cannotListen(host: String, port: UInt16, reason: String)

    public var description: String {
        switch self {
        case .cannotListen(let host, let port, let reason): return "cannot listen on \(host):\(port): \(reason)"
        }
    }
}
