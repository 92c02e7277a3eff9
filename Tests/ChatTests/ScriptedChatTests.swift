// `hayai chat` with standard input from a pipe or --prompt-file: only the answers (or one JSON object
// per turn) on standard output, notices and errors on standard error, bad input skipped.
import XCTest
import Foundation
import TestSupport

final class ScriptedChatTests: XCTestCase {
    let tiny = Fixtures.fixture("stablelm-tiny").path

    func smolLM2() throws -> String {
        do { return try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip("\(e)") }
            throw e
        }
    }

    func turns(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    func testFixtureModelWithoutTemplateChatsInPlainModeAndReusesTheCache() throws {
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "8", "--json"], stdin: "hello there\nand again\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("no chat template: using plain completion"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t.map { $0["turn"] as? Int }, [1, 2])
        XCTAssertEqual(t[1]["user"] as? String, "and again")
        let evaluated = try XCTUnwrap(t[1]["prompt_tokens_evaluated"] as? Int), total = try XCTUnwrap(t[1]["prompt_tokens"] as? Int)
        XCTAssertLessThan(evaluated, total, "the second turn reuses the cached first turn")
        XCTAssertEqual(t[0]["context_size"] as? Int, 256)
    }

    func testPlainOutputIsOnlyTheAnswers() throws {
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "4", "--template", "chatml"], stdin: "hi\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("chat template: chatml (chosen with --template)"), r.stderr)
        XCTAssertFalse(r.stdout.contains("prompt:"), "no stats line in scripted mode: \(r.stdout)")
        XCTAssertFalse(r.stdout.contains(">>>"), r.stdout)
    }

    func testAMessageLongerThanTheContextIsRefusedAndTheNextIsAnswered() throws {
        let long = String(repeating: "word ", count: 400)
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "4", "--json"], stdin: long + "\nshort one\n")
        XCTAssertEqual(r.status, 1, "scripted mode reports the failure in its exit status")
        XCTAssertTrue(r.stderr.contains("the whole context holds 256"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 1)
        XCTAssertEqual(t[0]["user"] as? String, "short one")
    }

    func testInvalidUTF8LineIsSkippedWithAClearMessage() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("messages.txt")
        try (Data("first\n".utf8) + Data([0x66, 0xFF, 0xFE, 0x0A]) + Data("third\n".utf8)).write(to: file)
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "4", "--json", "--prompt-file", file.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("line 2 of the input is not valid UTF-8: skipped"), r.stderr)
        XCTAssertEqual(try turns(r.stdout).map { $0["user"] as? String }, ["first", "third"])
    }

    func testBadCommandsKeepTheSessionGoing() throws {
        let script = "/load no-such-chat\n/model /no/such/model\n/set temp hot\n/frobnicate\n/set temp 0\nhello\n"
        let home = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        let r = try HayaiBinary.run(["chat", tiny, "-n", "4", "--json"], stdin: script, environment: ["HAYAI_HOME": home.path])
        XCTAssertTrue(r.stderr.contains("no-such-chat.json: no such file (the current conversation stays)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("/no/such/model: no such file or folder (the current model stays)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("temp needs a number"), r.stderr)
        XCTAssertTrue(r.stderr.contains("unknown command /frobnicate (type /help"), r.stderr)
        XCTAssertEqual(try turns(r.stdout).count, 1)
    }

    func testEverySamplingOptionReachesTheChatSettings() throws {
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0.3", "--top-k", "7", "--top-p", "0.5", "--min-p", "0.2",
                                     "--repeat-penalty", "1.3", "--repeat-last-n", "9", "--seed", "5", "-n", "3"], stdin: "/show\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("settings: temp=0.3 top_k=7 top_p=0.5 min_p=0.2 repeat_penalty=1.3 repeat_last_n=9 max_tokens=3 seed=5"),
                      r.stderr)
        let set = try HayaiBinary.run(["chat", tiny, "-n", "3"], stdin: "/set repeat_last_n 3\n/show\n")
        XCTAssertTrue(set.stderr.contains("repeat_last_n=3"), set.stderr)
    }

    func testCorruptSavedChatIsReportedAndTheConversationStays() throws {
        let home = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        try FileManager.default.createDirectory(at: home.appendingPathComponent("chats"), withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: home.appendingPathComponent("chats/bad.json"))
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "4", "--json"], stdin: "one\n/load bad\ntwo\n",
                                    environment: ["HAYAI_HOME": home.path])
        XCTAssertTrue(r.stderr.contains("bad.json: not a saved chat"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 2)
        XCTAssertLessThan(t[1]["prompt_tokens_evaluated"] as! Int, t[1]["prompt_tokens"] as! Int, "the first turn is still there and cached")
    }

    func testMultiLineMessagesInScriptedInput() throws {
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "2", "--json"], stdin: "a \\\nb\n\"\"\"\nc\n\nd\n\"\"\"\n")
        XCTAssertEqual(try turns(r.stdout).map { $0["user"] as? String }, ["a \nb", "c\n\nd"])
    }

    func testSmolLM2TwoTurnsInEnglish() throws {
        let model = try smolLM2()
        let r = try HayaiBinary.run(["chat", model, "--temp", "0", "-n", "32", "--json"],
                                    stdin: "What is the capital of France? Answer in one sentence.\nAnd of Japan?\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("chat template: chatml (detected from the checkpoint)"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t[0]["assistant"] as? String, "The capital of France is Paris.")
        XCTAssertEqual(t[0]["prompt_tokens"] as? Int, 42, "the fixture's chat_en prompt")
        XCTAssertEqual(t[0]["stop_reason"] as? String, "eos")
        XCTAssertTrue((t[1]["assistant"] as? String ?? "").contains("Tokyo"), "\(t[1])")
        let cached = (t[0]["prompt_tokens"] as! Int) + (t[0]["generated_tokens"] as! Int)
        XCTAssertEqual(t[1]["prompt_tokens_evaluated"] as? Int, (t[1]["prompt_tokens"] as! Int) - cached)
    }

    func testSmolLM2TwoTurnsInJapanese() throws {
        let model = try smolLM2()
        let r = try HayaiBinary.run(["chat", model, "--temp", "0", "-n", "24", "--json"],
                                    stdin: "日本の首都はどこですか？一文で答えてください。\nその都市の人口は？\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t[0]["prompt_tokens"] as? Int, 70, "the fixture's chat_ja prompt")
        XCTAssertEqual(t[1]["user"] as? String, "その都市の人口は？")
        for turn in t {
            let answer = try XCTUnwrap(turn["assistant"] as? String)
            XCTAssertFalse(answer.isEmpty)
            XCTAssertFalse(answer.contains("\u{FFFD}"), "clean UTF-8 even when cut by the token limit: \(answer)")
        }
        XCTAssertLessThan(t[1]["prompt_tokens_evaluated"] as! Int, 30)
    }

    func testCompareSendsEachMessageToBothModels() throws {
        let model = try smolLM2()
        let r = try HayaiBinary.run(["chat", "--compare", tiny, model, "--temp", "0", "-n", "8", "--json"], stdin: "Hello!\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.map { $0["model"] as? String }, ["base: stablelm-tiny", "instruct: \(SmolLM2.fileName)"])
        XCTAssertEqual(t.map { $0["turn"] as? Int }, [1, 1])
        let labelled = try HayaiBinary.run(["chat", "--compare", tiny, model, "--temp", "0", "-n", "4"], stdin: "Hello!\n")
        XCTAssertTrue(labelled.stdout.hasPrefix("[base: stablelm-tiny]\n"), labelled.stdout)
        XCTAssertTrue(labelled.stdout.contains("\n[instruct: \(SmolLM2.fileName)]\n"), labelled.stdout)
    }

    /// The tiny fixture as a pretraining run leaves it: trainer_state.json, and a tokenizer_config.json
    /// whose ChatML template the tokenizer trainer wrote for the instruct model to come.
    func pretrainedBase() throws -> String {
        let dir = Fixtures.temporaryDirectory("hayai-base")
        let base = dir.appendingPathComponent("base")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: tiny), to: base)
        try Data(#"{"step": 10}"#.utf8).write(to: base.appendingPathComponent("trainer_state.json"))
        let chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
        let config = try JSONSerialization.data(withJSONObject: ["chat_template": chatml])
        try config.write(to: base.appendingPathComponent("tokenizer_config.json"))
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return base.path
    }

    func testCompareRendersAPretrainingCheckpointAsPlainTextAndLabelsBothSides() throws {
        let base = try pretrainedBase()
        let r = try HayaiBinary.run(["chat", "--compare", base, tiny, "--temp", "0", "-n", "60", "--json"], stdin: "Hello!\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("base: base: a base model (pretraining checkpoint): plain completion"), r.stderr)
        XCTAssertFalse(r.stderr.contains("chatml"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.map { $0["model"] as? String }, ["base: base", "instruct: stablelm-tiny"])
        // The same model and message in one format render the same prompt: 2 tokens of "Hello!" plus BOS handling.
        XCTAssertEqual(t[0]["prompt_tokens"] as? Int, t[1]["prompt_tokens"] as? Int, "both sides plain: \(t)")
        for turn in t { XCTAssertFalse((turn["assistant"] as? String ?? "").contains("\n\n\n"), "no runs of blank lines: \(turn)") }
        // Per side: --template twice (base, then instruct).
        let sides = try HayaiBinary.run(["chat", "--compare", base, tiny, "--template", "plain", "--template", "chatml", "-n", "2"],
                                        stdin: "Hello!\n")
        XCTAssertEqual(sides.status, 0, sides.stderr)
        XCTAssertTrue(sides.stderr.contains("base: base: chat template: plain (chosen with --template)"), sides.stderr)
        XCTAssertTrue(sides.stderr.contains("instruct: stablelm-tiny: chat template: chatml (chosen with --template)"), sides.stderr)
        let three = try HayaiBinary.run(["chat", "--compare", base, tiny, "--template", "plain", "--template", "chatml", "--template", "plain"],
                                        stdin: "")
        XCTAssertEqual(three.status, 64, three.stderr)
    }

    func testMissingModelIsAOneLineError() throws {
        let r = try HayaiBinary.run(["chat", "/no/such/model"], stdin: "")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/no/such/model: no such file or folder"), r.stderr)
        let none = try HayaiBinary.run(["chat"], stdin: "")
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("give a model"), none.stderr)
    }
}

final class ScriptedCommandsTests: XCTestCase {
    let tiny = Fixtures.fixture("stablelm-tiny").path

    func turns(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    func testSystemTemplateUndoAndResetChangeWhatTheModelSees() throws {
        let script = "/system Be brief.\n/template chatml\none\n/show\ntwo\n/undo\nthree\n/reset\none\n/help\n"
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "2", "--json"], stdin: script)
        XCTAssertEqual(r.status, 0, r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.map { $0["user"] as? String }, ["one", "two", "three", "one"], "only answers on stdout")
        XCTAssertTrue(r.stderr.contains("chat template: chatml"), r.stderr)
        XCTAssertTrue(r.stderr.contains("system prompt: \"Be brief.\""), r.stderr)
        XCTAssertTrue(r.stderr.contains("removed the last exchange"), r.stderr)
        XCTAssertTrue(r.stderr.contains("/retry"), "the /help text: \(r.stderr)")
        // "three" follows "one" (two was undone): its prompt holds two exchanges' worth of tokens;
        // After /reset, "one" again: only the system prompt and itself, as at the start.
        let p = t.map { $0["prompt_tokens"] as! Int }
        XCTAssertGreaterThan(p[2], p[0])
        XCTAssertEqual(p[3], p[0], "after /reset the prompt is as at the start")
    }

    func testModelCommandSwitchesModelsAndKeepsTheConversation() throws {
        let smol: String
        do { smol = try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip("\(e)") }
            throw e
        }
        let r = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "8", "--json"],
                                    stdin: "hello\n/model \(smol)\nWhat is the capital of France?\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("chat template: chatml (detected from the checkpoint)"), r.stderr)
        XCTAssertTrue(r.stderr.contains("the conversation stays"), r.stderr)
        let t = try turns(r.stdout)
        XCTAssertEqual(t.count, 2)
        XCTAssertEqual(t[1]["model"] as? String, SmolLM2.fileName)
        XCTAssertEqual(t[1]["prompt_tokens_evaluated"] as? Int, t[1]["prompt_tokens"] as? Int, "a new model computes its cache afresh")
        XCTAssertEqual(t[1]["context_size"] as? Int, 4096)
    }
}

final class SavedChatCLITests: XCTestCase {
    func testLoadOptionStartsFromASavedChatWithItsCacheRecomputed() throws {
        let tiny = Fixtures.fixture("stablelm-tiny").path
        let home = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: home) }
        let first = try HayaiBinary.run(["chat", tiny, "--temp", "0", "-n", "4", "--json"], stdin: "one\n/set top_k 5\n/save keep\n",
                                        environment: ["HAYAI_HOME": home.path])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stderr.contains("saved 1 turns to \(home.path)/chats/keep.json"), first.stderr)
        let second = try HayaiBinary.run(["chat", tiny, "-n", "4", "--json", "--load", "keep"], stdin: "/show\ntwo\n",
                                         environment: ["HAYAI_HOME": home.path])
        XCTAssertEqual(second.status, 0, second.stderr)
        XCTAssertTrue(second.stderr.contains("loaded 1 turns"), second.stderr)
        XCTAssertTrue(second.stderr.contains("top_k=5"), "settings come back with the chat: \(second.stderr)")
        let turn = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        XCTAssertLessThan(turn["prompt_tokens_evaluated"] as! Int, turn["prompt_tokens"] as! Int)
    }
}
