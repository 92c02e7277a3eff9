// Reading instruction data: Alpaca and chat shapes, JCommonsenseQA's train split, and bad lines.
import XCTest
@testable import Training
import TestSupport

final class InstructionDataTests: XCTestCase {
    func write(_ lines: [String]) throws -> String {
        let url = Fixtures.temporaryDirectory("sft-data").appendingPathComponent("data.jsonl")
        try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func testAlpacaAndChatShapes() throws {
        let path = try write([
            #"{"instruction": "Translate to Japanese.", "input": "Good morning.", "output": "おはようございます。"}"#,
            #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}"#,
            "",
        ])
        let (records, report) = try InstructionData.load(path: path)
        XCTAssertEqual(report.records, 2)
        XCTAssertEqual(records[0].turns, [InstructionTurn(user: "Translate to Japanese.", input: "Good morning.", assistant: "おはようございます。")])
        XCTAssertEqual(records[1].system, "Be brief.")
        XCTAssertEqual(records[1].turns.map(\.assistant), ["Hello!", "4"])
        XCTAssertEqual(records[1].source, "\(path):2")
    }

    func testBadLinesNameFileAndLineOrAreSkipped() throws {
        let path = try write([
            #"{"instruction": "ok", "output": "fine"}"#,
            #"{"instruction": "no answer"}"#,
            #"{"instruction": "empty", "output": "   "}"#,
            #"{not json"#,
            #"{"messages": [{"role": "assistant", "content": "orphan"}]}"#,
        ])
        XCTAssertThrowsError(try InstructionData.load(path: path)) { XCTAssertEqual("\($0)", "\(path):2: missing field 'output'") }
        let (records, report) = try InstructionData.load(path: path, skipBadLines: true)
        XCTAssertEqual(records.count, 1)
        XCTAssertEqual(report.skipped, ["\(path):2: missing field 'output'", "\(path):3: empty response in 'output'",
                                        "\(path):4: not a JSON object", "\(path):5: assistant message 0 does not follow a user message"])
    }

    func testEveryReaderCountsBlankLinesAndNamesOrStopsAtABadLine() throws {
        // JCommonsenseQA: a blank line before the bad item; the line number is the file's.
        let dir = Fixtures.temporaryDirectory("sft-lines")
        defer { try? FileManager.default.removeItem(at: dir) }
        let item = #"{"q_id": 0, "question": "q", "choice0": "a", "choice1": "b", "choice2": "c", "choice3": "d", "choice4": "e", "label": 1}"#
        let train = dir.appendingPathComponent("train-v1.3.json")
        try [item, "", #"{"question": "no choices"}"#].joined(separator: "\n").write(to: train, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try InstructionData.jcommonsenseqa(trainFile: train.path, instruction: "{{choices}}")) {
            XCTAssertEqual("\($0)", "\(train.path):3: not a JCommonsenseQA item")
        }
        // Corpus pairs: a corrupt line of the corpus is an error at its true line, not silently dropped.
        let corpus = dir.appendingPathComponent("corpus")
        try FileManager.default.createDirectory(at: corpus, withIntermediateDirectories: true)
        let doc = #"{"text": "名前\n\nls - ディレクトリの内容をリスト表示する\n\n書式", "source": "manpages-ja"}"#
        try [doc, "", "", "{broken", doc].joined(separator: "\n").write(to: corpus.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try InstructionData.corpusPairs(corpus: corpus.path)) {
            XCTAssertEqual("\($0)", "\(corpus.path)/train.jsonl:4: not a JSON object")
        }
        let pairs = try InstructionData.corpusPairs(corpus: corpus.path, skipBadLines: true)
        XCTAssertEqual(pairs.map(\.source), ["\(corpus.path)/train.jsonl:1", "\(corpus.path)/train.jsonl:5"])
    }

    func testInvalidUTF8AndEmptyFiles() throws {
        let url = Fixtures.temporaryDirectory("sft-data").appendingPathComponent("bad.jsonl")
        try Data([0x7B, 0xFF, 0x7D]).write(to: url)
        XCTAssertThrowsError(try InstructionData.load(path: url.path)) { XCTAssertTrue("\($0)".contains(":1: not valid UTF-8")) }
        let empty = try write([])
        XCTAssertThrowsError(try InstructionData.load(path: empty)) { XCTAssertTrue("\($0)".contains("no usable examples")) }
    }

    func testJCommonsenseQATrainSplitBecomesInstructions() throws {
        let instruction = try String(contentsOf: Fixtures.repoRoot.appendingPathComponent("data/sft/jcommonsenseqa-instruction.txt"), encoding: .utf8)
        let records = try InstructionData.jcommonsenseqa(trainFile: Fixtures.data("jglue/jcommonsenseqa/train-v1.3.json").path,
                                                         instruction: instruction, limit: 3)
        // The instruction is the eval's (jcommonsenseqa-0.3's doc_to_text) with the item's choices listed.
        XCTAssertTrue(records[0].turns[0].user.hasPrefix("与えられた選択肢の中から、最適な答えを選んでください。出力は以下から選択してください：\n- "))
        XCTAssertEqual(records.count, 3)
        XCTAssertEqual(records[0].turns[0].assistant, "絵本")
        XCTAssertTrue(records[0].turns[0].user.contains("- 絵本"))
        XCTAssertEqual(records[0].turns[0].input, "主に子ども向けのもので、イラストのついた物語が書かれているものはどれ？")
        XCTAssertThrowsError(try InstructionData.jcommonsenseqa(trainFile: Fixtures.data("jglue/jcommonsenseqa/valid-v1.3.json").path,
                                                                instruction: instruction)) {
            XCTAssertTrue("\($0)".contains("only JCommonsenseQA's train split"))
        }
    }
}

final class CorpusPairTests: XCTestCase {
    func testJargonEntriesAndManualPagesBecomeDefinitionPairs() throws {
        let corpus = Fixtures.temporaryDirectory("corpus-pairs")
        let docs: [[String: String]] = [
            ["text": "memetics: /me·met'iks/, n.\n\n[from {meme}] The study of memes. As of early 2003, this is still informal.", "source": "jargon-text"],
            ["text": "名前\n\nstty - 端末の行設定の変更や表示を行う\n\n書式\n\nstty [-a]", "source": "manpages-ja"],
            ["text": "In the beginning God created the heaven and the earth.", "source": "bible-kjv-text"],
        ]
        let lines = try docs.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try lines.joined(separator: "\n").write(to: corpus.appendingPathComponent("train.jsonl"), atomically: true, encoding: .utf8)
        let pairs = try InstructionData.corpusPairs(corpus: corpus.path)
        XCTAssertEqual(pairs.map(\.turns[0].user), ["What does “memetics” mean in hacker jargon?", "Linux のマニュアルによると、「stty」とは何ですか？"])
        XCTAssertEqual(pairs.map(\.turns[0].assistant), ["The study of memes.", "stty は、端末の行設定の変更や表示を行う。"])
        XCTAssertThrowsError(try InstructionData.corpusPairs(corpus: corpus.appendingPathComponent("none").path))
    }
}
