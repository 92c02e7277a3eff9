// Hostile sizes as a user meets them (issue 15): a huge eval JSONL with --limit, a 50 MB prompt, a saved chat of
// 20,000 turns, an 8 MB chat message. Each run is the built binary, measured: exit status, one-line error where
// one is due, wall time and the child's peak memory. The files are a few hundred MB, enough to show memory does
// not follow the file's size (loading them whole took 5× their size before); the bounds are generous (debug build).
import XCTest
import Foundation
import TestSupport

final class StreamedInputTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-streamed") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    var tiny: String { Fixtures.fixture("stablelm-tiny").path }
    static let megabyte = 1 << 20

    /// A copy of the tinymc task whose data is `data` (and `fewshot` examples per item).
    func task(data: String, fewshot: Int = 0) throws -> String {
        let yaml = """
            task: tinymc_streamed
            data_file: \(data)
            output_type: multiple_choice
            doc_to_text: "Question: {{question}}\\nAnswer:"
            doc_to_choice: choices
            doc_to_target: label
            num_fewshot: \(fewshot)
            """
        let path = scratch.appendingPathComponent("streamed.yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testEvalWithALimitOnAHugeJSONLReadsOnlyTheItemsItScores() throws {
        let data = scratch.appendingPathComponent("huge.jsonl").path
        try HayaiBinary.writeRepeating(#"{"question": "What color is the sky on a clear day?", "choices": ["blue", "green", "red", "black"], "label": 0}"# + "\n",
                                       bytes: 200 * Self.megabyte, to: data)
        let run = try HayaiBinary.runMeasured(["eval", tiny, "--tasks", try task(data: data), "--limit", "3", "--home", scratch.appendingPathComponent("home").path])
        XCTAssertEqual(run.result.status, 0, run.result.stderr)
        XCTAssertTrue(run.result.stdout.contains("tinymc_streamed"), run.result.stdout)
        XCTAssertLessThan(run.peakMB, 150, "peak memory must not follow the 200 MB file")
        XCTAssertLessThan(run.seconds, 20)
    }

    func testEvalWithALimitAndFewShotDrawsFromAHugeJSONLWithoutHoldingIt() throws {
        let data = scratch.appendingPathComponent("huge.jsonl").path
        try HayaiBinary.writeRepeating(#"{"question": "How many days are in a week?", "choices": ["seven", "five", "ten", "one"], "label": 0}"# + "\n",
                                       bytes: 200 * Self.megabyte, to: data)
        let run = try HayaiBinary.runMeasured(["eval", tiny, "--tasks", try task(data: data, fewshot: 2), "--limit", "2",
                                               "--home", scratch.appendingPathComponent("home").path])
        XCTAssertEqual(run.result.status, 0, run.result.stderr)
        XCTAssertLessThan(run.peakMB, 150, "counting the pool must not hold the 200 MB file")
        XCTAssertLessThan(run.seconds, 30)
    }

    func testAPromptFarLongerThanTheContextIsRefusedBeforeItIsReadWhole() throws {
        let prompt = scratch.appendingPathComponent("prompt.txt").path
        try HayaiBinary.writeRepeating("a long prompt that never ends ", bytes: 50 * Self.megabyte, to: prompt)
        let run = try HayaiBinary.runMeasured(["generate", tiny, "--file", prompt, "-n", "1"])
        XCTAssertEqual(run.result.status, 1)
        let message = run.result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertFalse(message.contains("\n"), message)
        XCTAssertTrue(message.contains(prompt) && message.contains("more than") && message.contains("context"), message)
        XCTAssertLessThan(run.peakMB, 100, "the prompt is not read whole")
        XCTAssertLessThan(run.seconds, 10)
    }

    func testAPromptJustOverTheContextIsRefusedAfterTokenizing() throws {
        let prompt = scratch.appendingPathComponent("prompt.txt").path
        try String(repeating: "word ", count: 300).write(toFile: prompt, atomically: true, encoding: .utf8)   // under the byte bound, over 64 tokens
        let run = try HayaiBinary.run(["generate", tiny, "--file", prompt, "-n", "1", "--ctx", "64"])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("the context holds 64"), run.stderr)
    }

    func testLoadingASavedChatOfTwentyThousandTurnsIsLinear() throws {
        var turns: [[String: String]] = []
        for i in 0..<20_000 { turns.append(["user": "question \(i)", "assistant": "answer \(i)"]) }
        let saved: [String: Any] = ["version": 1, "template": "chatml", "conversation": ["turns": turns],
                                    "settings": ["temperature": 0, "max_tokens": 4]]
        let path = scratch.appendingPathComponent("long.json").path
        try JSONSerialization.data(withJSONObject: saved).write(to: URL(fileURLWithPath: path))
        let empty = scratch.appendingPathComponent("empty.txt").path
        FileManager.default.createFile(atPath: empty, contents: Data())
        let run = try HayaiBinary.runMeasured(["chat", tiny, "--load", path], stdinFile: empty,
                                              environment: ["HAYAI_HOME": scratch.appendingPathComponent("home").path])
        XCTAssertEqual(run.result.status, 0, run.result.stderr)
        XCTAssertTrue((run.result.stdout + run.result.stderr).contains("loaded 20000 turns"), run.result.stdout + run.result.stderr)
        XCTAssertTrue(run.result.stderr.contains("dropped the"), "the oldest turns make room: \(run.result.stderr)")
        XCTAssertLessThan(run.seconds, 10, "20,000 turns took over 20 s when each dropped turn re-rendered the rest")
    }

    func testAnEightMegabyteChatMessageIsRefusedInLinearTime() throws {
        let input = scratch.appendingPathComponent("input.txt").path
        try HayaiBinary.writeRepeating("a very long message ", bytes: 8 * Self.megabyte, to: input)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\nhello\n".utf8))
        try handle.close()
        let run = try HayaiBinary.runMeasured(["chat", tiny], stdinFile: input,
                                              environment: ["HAYAI_HOME": scratch.appendingPathComponent("home").path])
        let lines = run.result.stderr.split(separator: "\n").filter { $0.contains("bytes the whole context") }
        XCTAssertEqual(lines.count, 1, run.result.stderr)
        XCTAssertTrue(lines.first?.contains("the message is ") == true, run.result.stderr)
        XCTAssertLessThan(run.seconds, 10, "an 8 MB message took 14 s")
        XCTAssertLessThan(run.peakMB, 250)
    }
}
