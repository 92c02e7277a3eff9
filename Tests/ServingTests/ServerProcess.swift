// `hayai serve` started as a user starts it, on a free loopback port, with plain HTTP helpers: the
// port comes from the line it prints, its per-request log lines from standard error.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

final class ServerProcess {
    let process = Process()
    let port: Int
    /// The address it listens on, as its start line says.
    let host: String
    private let stderrLines = LockedText()
    var base: String { "http://\(host):\(port)" }

    static var tinyModel: String { Fixtures.fixture("stablelm-tiny").path }

    init(_ arguments: [String] = [ServerProcess.tinyModel], file: StaticString = #filePath, line: UInt = #line) throws {
        process.executableURL = HayaiBinary.url
        process.arguments = ["serve"] + arguments + ["--port", "0", "-t", "1"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let log = stderrLines
        err.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { log.append(String(decoding: data, as: UTF8.self)) }
        }
        // "hayai serve: http://HOST:PORT/v1 (...)"
        var first = Data()
        let deadline = Date().addingTimeInterval(60)
        while !first.contains(UInt8(ascii: "\n")) && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            first.append(chunk)
        }
        let text = String(decoding: first, as: UTF8.self)
        guard let range = text.range(of: #"http://[0-9.]+:\d+/v1"#, options: .regularExpression),
              case let address = text[range].dropFirst("http://".count).dropLast("/v1".count),
              let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            process.terminate()
            throw NSError(domain: "serve", code: 1, userInfo: [NSLocalizedDescriptionKey: "no port in: \(text) \(log.text)"])
        }
        self.host = String(address[..<colon])
        self.port = port
    }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }

    /// What the server wrote to standard error so far.
    var log: String { stderrLines.text }

    /// Sends SIGINT and returns (exit status, seconds until it exited), or nil status after `timeout`.
    func interrupt(timeout: TimeInterval = 10) -> (status: Int32?, seconds: Double) {
        let start = Date()
        kill(process.processIdentifier, SIGINT)
        while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(20_000) }
        let seconds = Date().timeIntervalSince(start)
        guard !process.isRunning else { return (nil, seconds) }
        return (process.terminationStatus, seconds)
    }

    // MARK: plain HTTP

    struct Response {
        var status: Int
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] {
            try XCTUnwrap(try JSONSerialization.jsonObject(with: body) as? [String: Any], "not a JSON object: \(text)")
        }
        /// The `data:` payloads of a server-sent-event body, `[DONE]` included.
        var events: [String] {
            text.components(separatedBy: "\n\n").compactMap { block in
                block.hasPrefix("data: ") ? String(block.dropFirst(6)) : nil
            }
        }
    }

    func request(_ method: String, _ path: String, body: Data? = nil, timeout: TimeInterval = 60) throws -> Response {
        var request = URLRequest(url: URL(string: base + path)!, timeoutInterval: timeout)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        return try Self.fetch(request)
    }

    static func fetch(_ request: URLRequest) throws -> Response {
        let done = DispatchSemaphore(value: 0)
        var result: Result<Response, Error> = .failure(URLError(.timedOut))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                result = .success(Response(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data()))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }

    func post(_ path: String, _ object: [String: Any]) throws -> Response {
        try request("POST", path, body: try JSONSerialization.data(withJSONObject: object))
    }

    /// A greedy completion's text.
    func complete(_ prompt: Any, maxTokens: Int) throws -> String {
        let response = try post("/v1/completions", ["prompt": prompt, "max_tokens": maxTokens, "temperature": 0])
        XCTAssertEqual(response.status, 200, response.text)
        let choices = try XCTUnwrap(try response.json()["choices"] as? [[String: Any]])
        return try XCTUnwrap(choices.first?["text"] as? String)
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    func append(_ s: String) { lock.lock(); stored += s; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return stored }
}
