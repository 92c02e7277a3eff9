// `hayai serve MODEL --adapter DIR`: the adapter runs beside the base for every request — the prompt's
// log-probabilities equal `hayai logits MODEL --adapter DIR`'s (and differ from the base's), and the
// served model id names both.
import Foundation
import TestSupport
import XCTest

final class ServeAdapterTests: XCTestCase {
    func testAServedAdapterScoresAsLogitsWithTheAdapterDo() throws {
        let dir = Fixtures.temporaryDirectory("serve-adapter")
        defer { try? FileManager.default.removeItem(at: dir) }
        let adapter = dir.appendingPathComponent("adapter").path
        let sft = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path
        let trained = try HayaiBinary.run(["train", "sft", "--base", ServerProcess.tinyModel, "--data", sft, "--steps", "3", "--seq-len", "128",
                                           "--batch-size", "2", "--lr", "5e-2", "--lora-rank", "4", "--out", adapter,
                                           "--home", dir.appendingPathComponent("ws").path])
        XCTAssertEqual(trained.status, 0, trained.stderr)

        let text = ServeTests.prompt
        let logits = try HayaiBinary.run(["logits", ServerProcess.tinyModel, "--adapter", adapter, "--text", text, "--all-positions", "--json"])
        XCTAssertEqual(logits.status, 0, logits.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(logits.stdout.utf8)) as? [String: Any])
        let ids = try XCTUnwrap(object["ids"] as? [Int])
        let rows = try XCTUnwrap(object["logits"] as? [[Double]]).map { row -> [Double] in
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            return row.map { $0 - lse }
        }
        let base = try ServeTests.referenceLogProbs(text)

        let server = try ServerProcess([ServerProcess.tinyModel, "--adapter", adapter])
        let models = try server.request("GET", "/v1/models")
        XCTAssertEqual(models.status, 200, models.text)
        let id = try XCTUnwrap(((try models.json()["data"] as? [[String: Any]])?.first)?["id"] as? String)
        XCTAssertEqual(id, "stablelm-tiny+adapter")

        let response = try server.post("/v1/completions", ["model": id, "prompt": text, "max_tokens": 0, "echo": true, "logprobs": 1])
        XCTAssertEqual(response.status, 200, response.text)
        let choice = try XCTUnwrap((try response.json()["choices"] as? [[String: Any]])?.first)
        let served = try XCTUnwrap((choice["logprobs"] as? [String: Any])?["token_logprobs"] as? [Any])
        XCTAssertEqual(served.count, ids.count)
        var largestChange = 0.0
        for i in 1..<ids.count {
            let got = try XCTUnwrap(served[i] as? Double, "token \(i)")
            XCTAssertEqual(got, rows[i - 1][ids[i]], accuracy: 1e-4, "token \(i)")
            largestChange = max(largestChange, abs(got - base.rows[i - 1][base.ids[i]]))
        }
        XCTAssertGreaterThan(largestChange, 1e-3, "the adapter changes what the base predicts")
    }
}
