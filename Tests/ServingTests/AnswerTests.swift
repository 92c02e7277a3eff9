// OpenAIServer.answer: a POST answered as the routes answer it, without a socket (the fuzz harness's
// entry): a good body gets 200 with the greedy text, garbage gets OpenAI's 400, an unknown path 404.
import Foundation
import Inference
import Serving
import TestSupport
import XCTest

final class AnswerTests: XCTestCase {
    func testAnswerGivesTheRoutesResponsesWithoutASocket() async throws {
        let model = try LocalLanguageModel(path: ServerProcess.tinyModel, runtime: RuntimeOptions(threads: 1))
        let server = try OpenAIServer(model: model, template: .plain)
        server.log = { _ in }
        let good = await server.answer(post: "/v1/completions", body: Data(#"{"prompt": "Hello", "max_tokens": 3, "temperature": 0}"#.utf8))
        XCTAssertEqual(good.statusCode.code, 200)
        let goodBody = try await good.bodyData
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: goodBody) as? [String: Any])
        let text = try XCTUnwrap((object["choices"] as? [[String: Any]])?.first?["text"] as? String)
        let expected = try model.generate(prompt: model.tokenizer.encode("Hello", addSpecialTokens: true),
                                          options: { var o = GenerationOptions(); o.maxTokens = 3; o.sampling.temperature = 0; return o }(),
                                          onText: { _ in true })
        XCTAssertEqual(text, expected.text)

        for body in ["{", "[1, 2]", #"{"messages": 5}"#, "\u{0}\u{ff}"] {
            let bad = await server.answer(post: "/v1/chat/completions", body: Data(body.utf8))
            XCTAssertEqual(bad.statusCode.code, 400, body)
            let badBody = try await bad.bodyData
            let error = try XCTUnwrap(try JSONSerialization.jsonObject(with: badBody) as? [String: Any])
            XCTAssertNotNil((error["error"] as? [String: Any])?["message"] as? String, body)
        }
        let unknown = await server.answer(post: "/v1/nothing", body: Data())
        XCTAssertEqual(unknown.statusCode.code, 404)
    }
}
