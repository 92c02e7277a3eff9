// `hayai tokenize`, `logits` and `generate` run as a user runs them, against the fixtures.
import XCTest
import Foundation
import TestSupport

final class InferenceCommandsTests: XCTestCase {
    func expectedPrompt(_ fixture: String, _ name: String) throws -> [String: Any] {
        let root = try Fixtures.json(Fixtures.fixture("\(fixture)/expected.json")) as! [String: Any]
        return (root["prompts"] as! [String: Any])[name] as! [String: Any]
    }

    func jsonObject(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
    }

    func testTokenizePrintsTheIdsOfTransformers() throws {
        let p = try expectedPrompt("stablelm-tiny", "ja")
        for model in [Fixtures.fixture("stablelm-tiny").path, Fixtures.fixture("stablelm-tiny.f32.gguf").path] {
            let r = try HayaiBinary.run(["tokenize", model, "--text", p["text"] as! String, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try jsonObject(r.stdout)["ids"] as? [Int], p["ids"] as? [Int])
        }
    }

    func testTokenizeWorksOnAVocabOnlyGGUF() throws {
        let r = try HayaiBinary.run(["tokenize", Fixtures.data("vocab/ggml-vocab-gpt-2.gguf").path, "--text", "Hello world", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try jsonObject(r.stdout)["ids"] as? [Int], [15496, 995])
    }

    func testLogitsMatchTransformersFromIdsAndFromText() throws {
        let p = try expectedPrompt("gptneox-tiny", "mixed")
        let ids = p["ids"] as! [Int]
        let expected = (p["last_position_logits"] as! [NSNumber]).map(\.floatValue)
        let model = Fixtures.fixture("gptneox-tiny").path
        for args in [["--ids", ids.map(String.init).joined(separator: ",")], ["--text", p["text"] as! String]] {
            let r = try HayaiBinary.run(["logits", model] + args + ["--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let out = try jsonObject(r.stdout)
            XCTAssertEqual(out["ids"] as? [Int], ids)
            let rows = try XCTUnwrap(out["logits"] as? [[NSNumber]])
            XCTAssertEqual(rows.count, 1)
            let diff = zip(rows[0].map(\.floatValue), expected).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff, 1e-4)
        }
        let all = try HayaiBinary.run(["logits", model, "--ids", "1,2,3", "--all-positions", "--json"])
        XCTAssertEqual((try jsonObject(all.stdout)["logits"] as? [[NSNumber]])?.count, 3)
    }

    func testGreedyGenerateReproducesTransformersTokens() throws {
        let p = try expectedPrompt("stablelm-tiny", "en")
        let greedy = p["greedy_16"] as! [String: Any]
        let r = try HayaiBinary.run(["generate", Fixtures.fixture("stablelm-tiny").path, "-p", p["text"] as! String,
                                     "-n", "16", "--temp", "0", "--ignore-eos", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try jsonObject(r.stdout)
        XCTAssertEqual(out["ids"] as? [Int], greedy["new_ids"] as? [Int])
        XCTAssertEqual(out["text"] as? String, greedy["text"] as? String)
    }

    func testGenerateStreamsTextAndEndsWithAStatsLine() throws {
        // Greedy: the streamed Japanese must be exactly transformers' decoded text (no broken characters between tokens).
        let p = try expectedPrompt("stablelm-tiny", "en")
        let greedy = p["greedy_16"] as! [String: Any]
        let model = Fixtures.fixture("stablelm-tiny").path
        let r = try HayaiBinary.run(["generate", model, "-p", p["text"] as! String, "-n", "16", "--temp", "0", "--ignore-eos"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, (greedy["text"] as! String) + "\n")
        XCTAssertTrue(r.stderr.contains("prompt: 47 tokens"), r.stderr)
        XCTAssertTrue(r.stderr.contains("generated: 16 tokens"), r.stderr)
        // Sampling: the same seed gives the same text, streamed or as JSON.
        let args = ["generate", model, "-p", "日本の", "-n", "12", "--seed", "3", "--ignore-eos"]
        let streamed = try HayaiBinary.run(args)
        let again = try HayaiBinary.run(args)
        XCTAssertEqual(again.stdout, streamed.stdout)
        let json = try jsonObject(try HayaiBinary.run(args + ["--json"]).stdout)
        XCTAssertEqual(streamed.stdout, (json["text"] as! String) + "\n")
        let other = try HayaiBinary.run(["generate", model, "-p", "日本の", "-n", "12", "--seed", "4", "--ignore-eos"])
        XCTAssertNotEqual(other.stdout, streamed.stdout)
    }

    func testGenerateStopsAtAStopString() throws {
        let p = try expectedPrompt("stablelm-tiny", "en")
        let text = (p["greedy_16"] as! [String: Any])["text"] as! String   // "rust WorkDパターン と同じ..."
        let r = try HayaiBinary.run(["generate", Fixtures.fixture("stablelm-tiny").path, "-p", p["text"] as! String,
                                     "-n", "16", "--temp", "0", "--ignore-eos", "--stop", "パターン", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try jsonObject(r.stdout)
        XCTAssertEqual(out["stop_reason"] as? String, "stop")
        XCTAssertEqual(out["text"] as? String, String(text[..<text.range(of: "パターン")!.lowerBound]))
    }
}

final class SmolLM2CommandsTests: XCTestCase {
    func smolPath() throws -> String {
        do { return try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip(e.description) }
            throw e
        }
    }

    func testGenerateAnswersParis() throws {
        let r = try HayaiBinary.run(["generate", try smolPath(), "-p", "The capital of France is", "-n", "6", "--temp", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("Paris"), r.stdout)
    }

    func testTokenizeMatchesChatMarkersInText() throws {
        let expected = (try Fixtures.json(Fixtures.fixture("smollm2/expected.json")) as! [String: Any])["prompts"] as! [String: Any]
        let chat = expected["chat_ja"] as! [String: Any]
        let r = try HayaiBinary.run(["tokenize", try smolPath(), "--text", chat["prompt_text"] as! String, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["ids"] as? [Int]
        XCTAssertEqual(ids, chat["ids"] as? [Int])
    }
}
