// `hayai serve` driven by the official `openai` Python package (scripts/setup --tests installs it), as
// users' scripts and lm-eval's local-completions talk to it: the prompt's log-probabilities through
// `completions.create(echo=True, logprobs=1, max_tokens=0)` equal `hayai logits`' log-softmax, and a
// streamed chat answer equals the non-streamed one.
import Foundation
import TestSupport
import XCTest

final class OpenAIClientTests: XCTestCase {
    static let script = #"""
import json, sys
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1], api_key="unused")
prompt = sys.argv[2]
models = [m.id for m in client.models.list().data]
c = client.completions.create(model=models[0], prompt=prompt, max_tokens=0, echo=True, logprobs=1, temperature=0)
lp = c.choices[0].logprobs
messages = [{"role": "user", "content": "Say something."}]
whole = client.chat.completions.create(model=models[0], messages=messages, max_tokens=30, temperature=0)
pieces = []
for chunk in client.chat.completions.create(model=models[0], messages=messages, max_tokens=30, temperature=0, stream=True):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
try:
    client.completions.create(model=models[0], prompt=[7] * 300, max_tokens=1)
    error = None
except Exception as e:
    error = [type(e).__name__, getattr(e, "status_code", None)]
print(json.dumps({"models": models, "text": c.choices[0].text, "token_logprobs": lp.token_logprobs, "text_offset": lp.text_offset,
                  "answer": whole.choices[0].message.content, "streamed": "".join(pieces), "pieces": len(pieces),
                  "usage": whole.usage.completion_tokens, "error": error}))
"""#

    func testOfficialClientScoresAndStreamsAgainstHayaiServe() throws {
        let check = try Self.python(["-c", "import openai"])
        XCTAssertEqual(check.status, 0, "the openai package is missing: run scripts/setup --tests (\(check.stderr))")
        guard check.status == 0 else { return }
        let server = try ServerProcess()
        let reference = try ServeTests.referenceLogProbs(ServeTests.prompt)
        let run = try Self.python(["-c", Self.script, server.base + "/v1", ServeTests.prompt])
        XCTAssertEqual(run.status, 0, run.stderr)
        let result = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
        XCTAssertEqual(result["models"] as? [String], ["stablelm-tiny"])
        XCTAssertEqual(result["text"] as? String, ServeTests.prompt)
        let logprobs = try XCTUnwrap(result["token_logprobs"] as? [Any])
        XCTAssertEqual(logprobs.count, reference.ids.count)
        XCTAssertTrue(logprobs[0] is NSNull)
        for i in 1..<reference.ids.count {
            XCTAssertEqual(try XCTUnwrap(logprobs[i] as? Double), reference.rows[i - 1][reference.ids[i]], accuracy: 1e-4, "token \(i)")
        }
        let answer = try XCTUnwrap(result["answer"] as? String)
        XCTAssertFalse(answer.isEmpty)
        XCTAssertEqual(result["streamed"] as? String, answer)
        XCTAssertGreaterThan(try XCTUnwrap(result["pieces"] as? Int), 1)
        let error = try XCTUnwrap(result["error"] as? [Any])
        XCTAssertEqual(error.first as? String, "BadRequestError")
        XCTAssertEqual(error.last as? Int, 400)
    }

    static func python(_ arguments: [String]) throws -> CommandResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments)
    }
}
