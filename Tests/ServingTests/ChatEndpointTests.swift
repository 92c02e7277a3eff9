// `hayai chat --endpoint URL`: each line is a message to the server's chat completions, streamed; the
// conversation so far goes with every turn, /reset forgets it, and options that only make sense for a
// local model are refused.
import Foundation
import TestSupport
import XCTest

final class ChatEndpointTests: XCTestCase {
    func testChatThroughAnEndpointKeepsTheConversation() throws {
        let server = try ServerProcess()
        func answer(_ messages: [[String: String]]) throws -> String {
            let r = try server.post("/v1/chat/completions", ["messages": messages, "max_tokens": 12, "temperature": 0])
            XCTAssertEqual(r.status, 200, r.text)
            let choice = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first)
            return try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
        }
        let first = try answer([["role": "user", "content": "Hello"]])
        let second = try answer([["role": "user", "content": "Hello"], ["role": "assistant", "content": first], ["role": "user", "content": "Again"]])
        let fresh = try answer([["role": "user", "content": "Again"]])
        XCTAssertNotEqual(second, fresh, "the history changes the answer")

        let run = try HayaiBinary.run(["chat", "--endpoint", server.base, "--temp", "0", "-n", "12"], stdin: "Hello\nAgain\n/reset\nAgain\n")
        XCTAssertEqual(run.status, 0, run.stderr)
        let expected = [first, second, fresh].map { $0.hasSuffix("\n") ? $0 : $0 + "\n" }.joined()
        XCTAssertEqual(run.stdout, expected)
        XCTAssertEqual(server.log.components(separatedBy: "POST /v1/chat/completions 200").count - 1, 6, "three turns, streamed")

        let unknown = try HayaiBinary.run(["chat", "--endpoint", server.base], stdin: "/show\n")
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("/show is not available with --endpoint"), unknown.stderr)
        let refused = try HayaiBinary.run(["chat", "--endpoint", server.base, "--template", "chatml"], stdin: "")
        XCTAssertEqual(refused.status, 64)
        XCTAssertTrue(refused.stderr.contains("the server applies its chat template"), refused.stderr)
    }
}
