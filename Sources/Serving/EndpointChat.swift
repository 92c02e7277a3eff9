// A conversation with a model served elsewhere (`hayai chat --endpoint URL`): the messages so far go
// to the server's /v1/chat/completions with stream: true on every turn (the server applies its chat
// template and tokenizes), and the answer's deltas reach the caller as they arrive.
import Basics
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

public final class EndpointChat {
    public let endpoint: EndpointModel
    /// The system message sent first (nil: none; the server's template may add its own).
    public var system: String?
    public var maxTokens: Int
    public var temperature: Double
    public var topP: Double
    public var topK: Int
    public var minP: Double
    public var seed: UInt64
    /// (role, content) of the turns so far.
    public private(set) var messages: [(role: String, content: String)] = []

    public init(endpoint: EndpointModel, system: String? = nil, maxTokens: Int = 512, temperature: Double = 0.8, topP: Double = 0.95,
                topK: Int = 40, minP: Double = 0.05, seed: UInt64 = 42) {
        self.endpoint = endpoint; self.system = system; self.maxTokens = maxTokens; self.temperature = temperature
        self.topP = topP; self.topK = topK; self.minP = minP; self.seed = seed
    }

    /// Forgets the turns (the system message stays).
    public func reset() { messages.removeAll() }

    /// Sends `message`, streams the answer's pieces to `onText` (false stops it; what came is kept)
    /// and returns the answer, which joins the conversation.
    @discardableResult
    public func send(_ message: String, onText: @escaping (String) -> Bool = { _ in true }) throws -> String {
        var list: [JSONValue] = []
        if let system, !system.isEmpty { list.append(.object(["role": .string("system"), "content": .string(system)])) }
        for m in messages + [("user", message)] { list.append(.object(["role": .string(m.0), "content": .string(m.1)])) }
        let body = JSONValue.object([
            "model": .string(endpoint.model), "messages": .array(list), "stream": .bool(true), "max_tokens": .int(maxTokens),
            "temperature": .double(temperature), "top_p": .double(topP), "top_k": .int(topK), "min_p": .double(minP),
            "seed": .int(Int(truncatingIfNeeded: seed))])
        let url = endpoint.baseURL + "/chat/completions"
        let answer = try EventStreamRequest(url: url, body: body, timeout: endpoint.timeout).run { event in
            guard case .string(let piece)? = event["choices"]?.arrayValue?.first?["delta"]?["content"], !piece.isEmpty else { return true }
            return onText(piece)
        }
        messages.append(("user", message))
        messages.append(("assistant", answer))
        return answer
    }
}

/// One POST whose answer is server-sent events, read as they arrive: each `data:` JSON goes to the
/// handler, `[DONE]` ends it, an `error` event or a non-2xx status becomes an EndpointError.
final class EventStreamRequest: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let url: String
    let request: URLRequest
    private var handler: ((JSONValue) -> Bool)?
    private var buffer = Data()
    private var text = ""
    private var status = 0
    private var failure: Error?
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(url: String, body: JSONValue, timeout: TimeInterval) {
        self.url = url
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = Data(body.jsonText.utf8)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        self.request = request
    }

    /// Runs the request; returns the concatenated `delta.content` of the events the handler accepted.
    func run(_ handler: @escaping (JSONValue) -> Bool) throws -> String {
        self.handler = handler
        let session = URLSession(configuration: .default, delegate: self, delegateQueue: nil)
        session.dataTask(with: request).resume()
        done.wait()
        session.finishTasksAndInvalidate()
        if let failure { throw failure }
        return text
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        status = (response as? HTTPURLResponse)?.statusCode ?? 0
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        buffer.append(data)
        guard (200..<300).contains(status), !stopped else { return }
        let separator = Data("\n\n".utf8)
        while let range = buffer.range(of: separator) {
            let block = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
            buffer.removeSubrange(..<range.upperBound)
            guard block.hasPrefix("data: ") else { continue }
            let payload = String(block.dropFirst(6))
            if payload == "[DONE]" { stopped = true; return }
            guard let event = try? JSONValue.parse(payload) else { continue }
            if case .string(let message)? = event["error"]?["message"] {
                failure = EndpointError.status(url: url, status: status, message: message)
                stopped = true
                dataTask.cancel()
                return
            }
            if case .string(let piece)? = event["choices"]?.arrayValue?.first?["delta"]?["content"] { text += piece }
            if handler?(event) == false { stopped = true; dataTask.cancel(); return }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if failure == nil {
            if !(200..<300).contains(status) && status != 0 {
                let json = try? JSONValue.parse(buffer)
                var message = String(decoding: buffer.prefix(200), as: UTF8.self)
                if case .string(let m)? = json?["error"]?["message"] { message = m }
                failure = EndpointError.status(url: url, status: status, message: message)
            } else if let error, !stopped {
                failure = EndpointError.unreachable(url: url, reason: error.localizedDescription)
            }
        }
        done.signal()
    }
}
