// A model served elsewhere (llama-server, vLLM, `hayai serve`) scored through the OpenAI completions
// API, as lm-eval's local-completions does: context + continuation go as one prompt with `echo`,
// `logprobs: 1` and `max_tokens: 1`; the continuation's tokens are those the server's `text_offset`
// puts at or after the context's end (and before the one generated token); greedy means each of them
// is the most likely at its position. Generation is a greedy completion. The server tokenizes.
import Basics
import Evaluation
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public enum EndpointError: Error, CustomStringConvertible {
    case unreachable(url: String, reason: String)
    case status(url: String, status: Int, message: String)
    case badAnswer(url: String, what: String)

    public var description: String {
        switch self {
        case .unreachable(let u, let r): return "\(u): cannot reach the endpoint (\(r))"
        case .status(let u, let s, let m): return "\(u): the endpoint answered \(s): \(m)"
        case .badAnswer(let u, let w): return "\(u): not an OpenAI-compatible answer: \(w)"
        }
    }
}

public final class EndpointModel: ServedModel {
    /// The API root, ending in /v1.
    public let baseURL: String
    /// The model name sent with each request.
    public let model: String
    public var name: String { model }
    let timeout: TimeInterval

    /// - endpoint: the server's address, with or without /v1 (http://127.0.0.1:8080).
    /// - model: the name to ask for; nil: the first the server lists at /v1/models.
    public init(endpoint: String, model: String? = nil, timeout: TimeInterval = 600) throws {
        var base = endpoint.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        guard let url = URL(string: base), ["http", "https"].contains(url.scheme ?? "") else {
            throw EndpointError.unreachable(url: endpoint, reason: "not an http:// or https:// address")
        }
        self.baseURL = base
        self.timeout = timeout
        if let model {
            self.model = model
        } else {
            let list = try Self.send(url: base + "/models", body: nil, timeout: timeout)
            guard case .string(let first)? = list["data"]?.arrayValue?.first?["id"] else {
                throw EndpointError.badAnswer(url: base + "/models", what: "no model listed in 'data'")
            }
            self.model = first
        }
    }

    public func score(context: String, continuations: [String]) throws -> [TextScore] {
        guard !context.isEmpty else {
            throw EndpointError.badAnswer(url: baseURL, what: "an empty context cannot be scored through echo (its first token has no log-probability)")
        }
        let prompts = continuations.map { context + $0 }
        let url = baseURL + "/completions"
        let answer = try Self.send(url: url, body: .object([
            "model": .string(model), "prompt": .array(prompts.map(JSONValue.string)), "max_tokens": .int(1), "temperature": .int(0),
            "echo": .bool(true), "logprobs": .int(1)]), timeout: timeout)
        guard let choices = answer["choices"]?.arrayValue, choices.count == prompts.count else {
            throw EndpointError.badAnswer(url: url, what: "expected \(prompts.count) choices")
        }
        let ordered = choices.enumerated().sorted { ($0.element["index"]?.intValue ?? $0.offset) < ($1.element["index"]?.intValue ?? $1.offset) }
        let contextEnd = context.unicodeScalars.count
        return try zip(ordered.map(\.element), prompts).map { choice, prompt in
            guard case .object(let logprobs)? = choice["logprobs"], let offsets = logprobs["text_offset"]?.arrayValue?.compactMap(\.intValue),
                  let values = logprobs["token_logprobs"]?.arrayValue, let tops = logprobs["top_logprobs"]?.arrayValue,
                  values.count == offsets.count, tops.count == offsets.count else {
                throw EndpointError.badAnswer(url: url, what: "no logprobs with text_offset, token_logprobs and top_logprobs (does the server support echo?)")
            }
            let promptEnd = prompt.unicodeScalars.count
            let continuation = offsets.indices.filter { offsets[$0] >= contextEnd && offsets[$0] < promptEnd }
            guard let first = continuation.first, first > 0 else {
                throw EndpointError.badAnswer(url: url, what: "no continuation tokens after the context in the server's text_offset")
            }
            var total = 0.0, greedy = true
            for i in continuation {
                guard let value = values[i].doubleValue else { throw EndpointError.badAnswer(url: url, what: "token \(i) has no log-probability") }
                total += value
                let best = tops[i].objectValues.compactMap(\.doubleValue).max() ?? value
                if value < best { greedy = false }
            }
            return TextScore(logLikelihood: total, isGreedy: greedy, contextTokens: first, continuationTokens: continuation.count)
        }
    }

    public func generate(prompt: String, maxTokens: Int, until: [String]) throws -> String {
        let url = baseURL + "/completions"
        var body: [String: JSONValue] = ["model": .string(model), "prompt": .string(prompt), "max_tokens": .int(maxTokens), "temperature": .int(0)]
        let stops = until.filter { !$0.isEmpty }
        if !stops.isEmpty { body["stop"] = .array(stops.prefix(4).map(JSONValue.string)) }   // OpenAI takes at most 4
        let answer = try Self.send(url: url, body: .object(body), timeout: timeout)
        guard case .string(let text)? = answer["choices"]?.arrayValue?.first?["text"] else {
            throw EndpointError.badAnswer(url: url, what: "no choices[0].text")
        }
        return text
    }

    /// One request, waited for; a non-2xx status becomes an error with the server's message.
    static func send(url: String, body: JSONValue?, timeout: TimeInterval) throws -> JSONValue {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        if let body {
            request.httpMethod = "POST"
            request.httpBody = Data(body.jsonText.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<(Int, Data), Error> = .failure(URLError(.timedOut))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { outcome = .failure(error) } else { outcome = .success(((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())) }
            done.signal()
        }.resume()
        done.wait()
        let status: Int, data: Data
        switch outcome {
        case .failure(let error): throw EndpointError.unreachable(url: url, reason: error.localizedDescription)
        case .success(let answer): (status, data) = answer
        }
        let json = try? JSONValue.parse(data)
        guard (200..<300).contains(status) else {
            let message: String
            if case .string(let m)? = json?["error"]?["message"] { message = m } else { message = String(decoding: data.prefix(200), as: UTF8.self) }
            throw EndpointError.status(url: url, status: status, message: message)
        }
        guard let json else { throw EndpointError.badAnswer(url: url, what: "the body is not JSON") }
        return json
    }
}

extension JSONValue {
    var objectValues: [JSONValue] {
        if case .object(let o) = self { return Array(o.values) }
        return []
    }
}
