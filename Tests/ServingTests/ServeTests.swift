// `hayai serve` driven over plain HTTP on a free loopback port: echo + logprobs equal `hayai logits`'
// log-softmax, streamed chat deltas add up to the non-streamed answer, concurrent clients get their
// own answers, a client that leaves mid-stream stops its generation, bad requests get OpenAI's error
// object with the right status while the server stays up, and SIGINT ends it with status 0.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

final class ServeTests: XCTestCase {
    static let prompt = "The quick brown fox jumps over the lazy dog. 日本語も少し。"

    /// `hayai logits --all-positions` as (ids, log-softmax rows), computed in Double.
    static func referenceLogProbs(_ text: String) throws -> (ids: [Int], rows: [[Double]]) {
        let result = try HayaiBinary.run(["logits", ServerProcess.tinyModel, "--text", text, "--all-positions", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let ids = try XCTUnwrap(object["ids"] as? [Int])
        let logits = try XCTUnwrap(object["logits"] as? [[Double]])
        let rows = logits.map { row -> [Double] in
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return row.map { $0 - lse }
        }
        return (ids, rows)
    }

    func testEchoLogprobsWithNoTokensEqualLogitsLogSoftmax() throws {
        let server = try ServerProcess()
        let reference = try Self.referenceLogProbs(Self.prompt)
        let response = try server.post("/v1/completions", ["prompt": Self.prompt, "max_tokens": 0, "echo": true, "logprobs": 3])
        XCTAssertEqual(response.status, 200, response.text)
        let body = try response.json()
        let choice = try XCTUnwrap((body["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, Self.prompt, "echo returns the prompt")
        let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any])
        let tokenLogprobs = try XCTUnwrap(logprobs["token_logprobs"] as? [Any])
        let top = try XCTUnwrap(logprobs["top_logprobs"] as? [Any])
        let offsets = try XCTUnwrap(logprobs["text_offset"] as? [Int])
        let tokens = try XCTUnwrap(logprobs["tokens"] as? [String])
        XCTAssertEqual(tokenLogprobs.count, reference.ids.count)
        XCTAssertTrue(tokenLogprobs[0] is NSNull, "the first token has no context")
        XCTAssertTrue(top[0] is NSNull)
        for i in 1..<reference.ids.count {
            let expected = reference.rows[i - 1][reference.ids[i]]
            let got = try XCTUnwrap(tokenLogprobs[i] as? Double, "token \(i)")
            XCTAssertEqual(got, expected, accuracy: 1e-4, "token \(i)")
            // The top 3 are the three largest of the reference row, best first.
            let topValues = try XCTUnwrap(top[i] as? [String: Double]).values.sorted(by: >)
            let expectedTop = Array(reference.rows[i - 1].sorted(by: >).prefix(3))
            XCTAssertEqual(topValues.count, expectedTop.count)
            for (a, b) in zip(topValues, expectedTop) { XCTAssertEqual(a, b, accuracy: 1e-4) }
        }
        // Offsets count Unicode scalars (Python's indices) and increase; the pieces rebuild the ASCII part.
        XCTAssertEqual(offsets.first, 0)
        XCTAssertEqual(offsets, offsets.sorted())
        let asciiEnd = Self.prompt.unicodeScalars.firstIndex { !$0.isASCII }.map { Self.prompt.unicodeScalars.distance(from: Self.prompt.unicodeScalars.startIndex, to: $0) }!
        let asciiTokens = offsets.filter { $0 < asciiEnd }.count - 1
        XCTAssertEqual(tokens.prefix(asciiTokens).joined(), String(Self.prompt.unicodeScalars.prefix(offsets[asciiTokens])))
        let usage = try XCTUnwrap(body["usage"] as? [String: Any])
        XCTAssertEqual(usage["prompt_tokens"] as? Int, reference.ids.count)
        XCTAssertEqual(usage["completion_tokens"] as? Int, 0)

        // As lm-eval's local-completions asks: token ids, max_tokens 1, logprobs 1; the prompt's part is the same.
        let ids = try server.post("/v1/completions", ["prompt": [reference.ids], "max_tokens": 1, "echo": true, "logprobs": 1, "temperature": 0])
        XCTAssertEqual(ids.status, 200, ids.text)
        let idsChoice = try XCTUnwrap((try ids.json()["choices"] as? [[String: Any]])?.first)
        let idsLogprobs = try XCTUnwrap((idsChoice["logprobs"] as? [String: Any])?["token_logprobs"] as? [Any])
        XCTAssertEqual(idsLogprobs.count, reference.ids.count + 1, "the prompt's tokens and the one generated")
        for i in 1..<reference.ids.count {
            XCTAssertEqual(try XCTUnwrap(idsLogprobs[i] as? Double), reference.rows[i - 1][reference.ids[i]], accuracy: 1e-4)
        }
        // The generated token is the greedy one: its log-probability is the row's maximum.
        XCTAssertEqual(try XCTUnwrap(idsLogprobs.last as? Double), reference.rows.last!.max()!, accuracy: 1e-4)
    }

    func testStreamedChatDeltasAddUpToTheGreedyAnswer() throws {
        let server = try ServerProcess()
        let messages: [[String: Any]] = [["role": "system", "content": "You are terse."], ["role": "user", "content": "Name a colour."]]
        let plain = try server.post("/v1/chat/completions", ["messages": messages, "max_tokens": 40, "temperature": 0])
        XCTAssertEqual(plain.status, 200, plain.text)
        let plainBody = try plain.json()
        XCTAssertEqual(plainBody["object"] as? String, "chat.completion")
        let choice = try XCTUnwrap((plainBody["choices"] as? [[String: Any]])?.first)
        let answer = try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
        XCTAssertFalse(answer.isEmpty)
        let usage = try XCTUnwrap(plainBody["usage"] as? [String: Any])
        let completionTokens = try XCTUnwrap(usage["completion_tokens"] as? Int)
        XCTAssertEqual(choice["finish_reason"] as? String, completionTokens == 40 ? "length" : "stop")

        let streamed = try server.post("/v1/chat/completions", ["messages": messages, "max_tokens": 40, "temperature": 0, "stream": true,
                                                                 "stream_options": ["include_usage": true]])
        XCTAssertEqual(streamed.status, 200, streamed.text)
        let events = streamed.events
        XCTAssertEqual(events.last, "[DONE]")
        var deltas = "", finish: String?, streamedUsage: [String: Any]?
        for event in events.dropLast() {
            let chunk = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(event.utf8)) as? [String: Any], event)
            XCTAssertEqual(chunk["object"] as? String, "chat.completion.chunk")
            if let u = chunk["usage"] as? [String: Any] { streamedUsage = u }
            for c in chunk["choices"] as? [[String: Any]] ?? [] {
                deltas += (c["delta"] as? [String: Any])?["content"] as? String ?? ""
                if let f = c["finish_reason"] as? String { finish = f }
            }
        }
        XCTAssertGreaterThan(events.count, 4, "the answer came in pieces")
        XCTAssertEqual(deltas, answer)
        XCTAssertEqual(finish, choice["finish_reason"] as? String)
        XCTAssertEqual(streamedUsage?["completion_tokens"] as? Int, completionTokens)
    }

    func testTemplateOptionChangesTheChatPrompt() throws {
        let messages: [[String: Any]] = [["role": "user", "content": "Hello there"]]
        func promptTokens(_ server: ServerProcess) throws -> Int {
            let r = try server.post("/v1/chat/completions", ["messages": messages, "max_tokens": 1, "temperature": 0])
            XCTAssertEqual(r.status, 200, r.text)
            return try XCTUnwrap((try r.json()["usage"] as? [String: Any])?["prompt_tokens"] as? Int)
        }
        let plain = try promptTokens(try ServerProcess())
        let chatml = try promptTokens(try ServerProcess([ServerProcess.tinyModel, "--template", "chatml"]))
        // chatml wraps the message in <|im_start|>user ... <|im_end|> and opens the assistant's turn.
        XCTAssertGreaterThan(chatml, plain + 4)
        let bad = try HayaiBinary.run(["serve", ServerProcess.tinyModel, "--template", "no-such-format", "--port", "0"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("no-such-format"), bad.stderr)
    }

    func testEightConcurrentClientsEachGetTheirOwnGreedyAnswer() throws {
        let server = try ServerProcess()
        let prompts = (0..<8).map { "Client \($0) asks about item \($0 * 7 + 3):" }
        let solo = try prompts.map { try server.complete($0, maxTokens: 24) }
        XCTAssertGreaterThan(Set(solo).count, 1, "different prompts, different answers")
        var concurrent = [String?](repeating: nil, count: 8)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            let text = try? server.complete(prompts[i], maxTokens: 24)
            lock.lock(); concurrent[i] = text; lock.unlock()
        }
        XCTAssertEqual(concurrent, solo.map { Optional($0) })
    }

    func testPromptSharingThePreviousPrefixReusesTheCache() throws {
        let server = try ServerProcess()
        let ids = Array(5..<45)
        _ = try server.complete(Array(ids.prefix(20)), maxTokens: 1)
        let response = try server.post("/v1/completions", ["prompt": ids, "max_tokens": 1, "temperature": 0])
        let usage = try XCTUnwrap(try response.json()["usage"] as? [String: Any])
        XCTAssertEqual((usage["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int, 20)
        let other = try server.post("/v1/completions", ["prompt": Array(100..<140), "max_tokens": 1, "temperature": 0])
        XCTAssertEqual(((try other.json()["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int, 0)
    }

    func testClientThatDisconnectsMidStreamStopsItsGeneration() throws {
        let server = try ServerProcess()
        let prompt = "Once upon a time"
        // Solo, the prompt runs to the token limit (no end-of-sequence token on the way).
        let full = try server.post("/v1/completions", ["prompt": prompt, "max_tokens": 200, "temperature": 0])
        XCTAssertEqual(((try full.json()["usage"] as? [String: Any])?["completion_tokens"] as? Int), 200)

        let body = try JSONSerialization.data(withJSONObject: ["prompt": prompt, "max_tokens": 200, "temperature": 0, "stream": true])
        let socket = try RawHTTP(port: server.port)
        try socket.send("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n", body)
        let received = try socket.receive(until: { $0.components(separatedBy: "data: ").count > 3 })
        XCTAssertTrue(received.hasPrefix("HTTP/1.1 200"), received)
        socket.close()

        // The server stays up and answers the next request; its log shows the stream ended early.
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        let deadline = Date().addingTimeInterval(10)
        while !server.log.contains("client disconnected") && Date() < deadline { usleep(20_000) }
        let line = try XCTUnwrap(server.log.split(separator: "\n").first { $0.contains("client disconnected") }, server.log)
        XCTAssertTrue(line.contains("finish abort"), String(line))
        let generated = try XCTUnwrap(Int(try XCTUnwrap(line.range(of: #"\d+ generated"#, options: .regularExpression).map { line[$0].split(separator: " ")[0] })))
        XCTAssertLessThan(generated, 50, "generation stopped soon after the client left: \(line)")
        XCTAssertEqual(try server.complete(prompt, maxTokens: 5).count > 0, true)
    }

    func testBadRequestsGetOpenAIErrorsAndTheServerStaysUp() throws {
        let server = try ServerProcess()
        func check(_ response: ServerProcess.Response, _ status: Int, code: String? = nil, param: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) throws {
            XCTAssertEqual(response.status, status, response.text, file: file, line: line)
            let error = try XCTUnwrap(try response.json()["error"] as? [String: Any], response.text, file: file, line: line)
            XCTAssertFalse((error["message"] as? String ?? "").isEmpty, file: file, line: line)
            XCTAssertNotNil(error["type"] as? String, file: file, line: line)
            if let code { XCTAssertEqual(error["code"] as? String, code, file: file, line: line) }
            if let param { XCTAssertEqual(error["param"] as? String, param, file: file, line: line) }
            XCTAssertEqual(try server.request("GET", "/health").status, 200, "still up", file: file, line: line)
        }
        try check(server.request("POST", "/v1/completions", body: Data("{\"prompt\": \"hi\", ".utf8)), 400, code: "invalid_json")
        try check(server.request("POST", "/v1/completions", body: Data("[1, 2]".utf8)), 400)
        try check(server.post("/v1/completions", ["prompt": "hi", "max_tokens": "ten"]), 400, param: "max_tokens")
        try check(server.post("/v1/completions", ["prompt": "hi", "temperature": -1]), 400, param: "temperature")
        try check(server.post("/v1/completions", ["prompt": [1, "two"]]), 400, param: "prompt")
        try check(server.post("/v1/completions", ["prompt": [999_999]]), 400, param: "prompt")
        try check(server.post("/v1/completions", ["max_tokens": 3]), 400, param: "prompt")
        try check(server.post("/v1/chat/completions", ["messages": [["role": "robot", "content": "x"]]]), 400, param: "messages[0]")
        try check(server.post("/v1/completions", ["prompt": "hi", "model": "gpt-4"]), 404, code: "model_not_found", param: "model")
        try check(server.request("GET", "/v1/nothing"), 404, code: "unknown_url")
        try check(server.request("POST", "/v2/completions", body: Data("{}".utf8)), 404, code: "unknown_url")
        let huge = Data("{\"prompt\": \"".utf8) + Data(repeating: UInt8(ascii: "a"), count: 9 << 20) + Data("\"}".utf8)
        try check(server.request("POST", "/v1/completions", body: huge), 413, code: "request_too_large")
        // The fixture's context is 256 positions.
        let long = Array(repeating: 7, count: 300)
        try check(server.post("/v1/completions", ["prompt": long, "max_tokens": 1]), 400, code: "context_length_exceeded", param: "prompt")
        try check(server.post("/v1/completions", ["prompt": long, "stream": true]), 400, code: "context_length_exceeded")
        try check(server.post("/v1/chat/completions", ["messages": [["role": "user", "content": String(repeating: "word ", count: 400)]]]), 400,
                  code: "context_length_exceeded")

        // And it still answers properly.
        let models = try server.request("GET", "/v1/models").json()
        let id = try XCTUnwrap((models["data"] as? [[String: Any]])?.first?["id"] as? String)
        XCTAssertEqual(id, "stablelm-tiny")
        let ok = try server.post("/v1/completions", ["prompt": "hi", "model": id, "max_tokens": 3, "temperature": 0])
        XCTAssertEqual(ok.status, 200, ok.text)
        XCTAssertEqual(((try ok.json()["usage"] as? [String: Any])?["completion_tokens"] as? Int), 3)
    }

    func testSamplingFollowsTheSeedAndStopStrings() throws {
        let server = try ServerProcess()
        func sample(_ seed: Int) throws -> String {
            let r = try server.post("/v1/completions", ["prompt": "Once", "max_tokens": 30, "temperature": 1.5, "top_k": 50, "top_p": 0.95,
                                                        "min_p": 0.01, "seed": seed])
            return try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)
        }
        XCTAssertEqual(try sample(1), try sample(1), "the same seed gives the same text")
        XCTAssertNotEqual(try sample(1), try sample(2))
        let greedy = try server.complete("Once", maxTokens: 30)
        let cut = String(greedy.dropFirst(3).prefix(2))
        let stopped = try server.post("/v1/completions", ["prompt": "Once", "max_tokens": 30, "temperature": 0, "stop": [cut]])
        let choice = try XCTUnwrap((try stopped.json()["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["text"] as? String, String(greedy[..<greedy.range(of: cut)!.lowerBound]))
        XCTAssertEqual(choice["finish_reason"] as? String, "stop")
    }

    func testRuntimeContextOptionBoundsPrompts() throws {
        let server = try ServerProcess([ServerProcess.tinyModel, "--ctx", "64", "--kv-type", "f16"])
        let models = try server.request("GET", "/v1/models").json()
        XCTAssertEqual((models["data"] as? [[String: Any]])?.first?["max_model_len"] as? Int, 64)
        XCTAssertEqual(try server.post("/v1/completions", ["prompt": Array(repeating: 7, count: 65), "max_tokens": 1]).status, 400)
        let fits = try server.post("/v1/completions", ["prompt": Array(repeating: 7, count: 60), "max_tokens": 10, "temperature": 0])
        XCTAssertEqual(fits.status, 200, fits.text)
        let choice = try XCTUnwrap((try fits.json()["choices"] as? [[String: Any]])?.first)
        XCTAssertEqual(choice["finish_reason"] as? String, "length", "the context ends the answer")
        XCTAssertEqual(((try fits.json()["usage"] as? [String: Any])?["completion_tokens"] as? Int), 4)
    }

    func testHostOptionChoosesTheAddress() throws {
        let server = try ServerProcess([ServerProcess.tinyModel, "--host", "127.0.0.2"])
        XCTAssertEqual(server.host, "127.0.0.2")
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        var other = URLRequest(url: URL(string: "http://127.0.0.1:\(server.port)/health")!, timeoutInterval: 5)
        other.httpMethod = "GET"
        XCTAssertThrowsError(try ServerProcess.fetch(other), "nothing listens on 127.0.0.1 at that port")
        let bad = try HayaiBinary.run(["serve", ServerProcess.tinyModel, "--host", "not-an-address", "--port", "0"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("not-an-address"), bad.stderr)
    }

    func testSIGINTStopsTheServerWithStatusZero() throws {
        let server = try ServerProcess()
        XCTAssertEqual(try server.request("GET", "/health").status, 200)
        let (status, seconds) = server.interrupt()
        XCTAssertEqual(status, 0, server.log)
        XCTAssertLessThan(seconds, 5)
        XCTAssertThrowsError(try server.request("GET", "/health", timeout: 2), "no longer listening")
    }

    func testSIGINTDuringAStreamCutsItAndExitsZero() throws {
        let server = try ServerProcess()
        // A client that reads two events and then stops reading keeps the generation waiting on it.
        let body = try JSONSerialization.data(withJSONObject: ["prompt": "Once upon a time", "max_tokens": 200, "temperature": 0, "stream": true])
        let socket = try RawHTTP(port: server.port)
        defer { socket.close() }
        try socket.send("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.count)\r\n\r\n", body)
        _ = try socket.receive(until: { $0.components(separatedBy: "data: ").count > 2 })
        let (status, seconds) = server.interrupt()
        XCTAssertEqual(status, 0, server.log)
        XCTAssertLessThan(seconds, 5, "the answer in progress is cut, not waited for")
        XCTAssertTrue(server.log.contains("finish abort"), server.log)
    }

    func testLoadGeneratorReportsThroughputAndStaysOnLoopback() throws {
        let server = try ServerProcess()
        let script = Fixtures.repoRoot.appendingPathComponent("scripts/serve-load")
        let run = try ProcessRunner.run(script, ["--url", server.base, "--clients", "3", "--requests", "9", "--max-tokens", "8",
                                                 "--max-seconds", "60"])
        XCTAssertEqual(run.status, 0, run.stderr + run.stdout)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
        XCTAssertEqual(report["requests"] as? Int, 9)
        XCTAssertEqual(report["errors"] as? Int, 0)
        XCTAssertEqual(report["completion_tokens"] as? Int, 9 * 8, "no end-of-sequence token in 8 greedy tokens of these prompts")
        XCTAssertGreaterThan(try XCTUnwrap(report["requests_per_second"] as? Double), 0)
        XCTAssertEqual(server.log.components(separatedBy: "POST /v1/completions 200").count - 1, 9, "each request reached the server once")
        let outside = try ProcessRunner.run(script, ["--url", "http://192.0.2.1:8080"])
        XCTAssertEqual(outside.status, 1)
        XCTAssertTrue(outside.stderr.contains("only loopback"), outside.stderr)
    }
}

/// A bare TCP client, for a client that leaves in the middle of an answer.
final class RawHTTP {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw NSError(domain: "connect", code: Int(errno)) }
    }

    func send(_ head: String, _ body: Data) throws {
        let bytes = Data(head.utf8) + body
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw NSError(domain: "send", code: Int(errno)) }
    }

    /// Reads until `done` holds for what arrived (or 30 s pass).
    func receive(until done: (String) -> Bool) throws -> String {
        var data = Data(), buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(30)
        while !done(String(decoding: data, as: UTF8.self)) && Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            data.append(contentsOf: buffer[..<n])
        }
        return String(decoding: data, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
