// Each format in prompts/ renders exactly the strings its model expects (spaces and new lines included).
import XCTest
import Chat
import TestSupport

final class TemplateRenderingTests: XCTestCase {
    var library: TemplateLibrary!

    override func setUp() {
        library = TemplateLibrary.load(folder: Fixtures.repoRoot.appendingPathComponent("prompts"))
    }

    let twoTurns = [Turn(user: "Hi", assistant: "Hello!"), Turn(user: "How are you?")]

    func testEveryPromptsFileLoads() {
        XCTAssertEqual(library.problems, [])
        XCTAssertEqual(library.names, ["chatml", "jslm-instruct", "jslm-instruct-alpha", "jslm-instruct-beta", "llama2", "plain", "rinna-instruction",
                                       "stablelm-zephyr"])
    }

    func testChatMLRendersSystemTurnsAndGenerationPrompt() throws {
        let t = try library.template(named: "chatml")
        XCTAssertEqual(t.render(system: "Be brief.", turns: twoTurns),
                       "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                       + "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(t.render(system: nil, turns: [Turn(user: "Hi")]), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(t.render(system: "", turns: [Turn(user: "Hi")], addGenerationPrompt: false), "<|im_start|>user\nHi<|im_end|>\n")
    }

    func testStableLMZephyrRendersUserAssistantMarkers() throws {
        let t = try library.template(named: "stablelm-zephyr")
        XCTAssertEqual(t.render(system: nil, turns: [Turn(user: "List 3 synonyms for the word \"tiny\"")]),
                       "<|user|>\nList 3 synonyms for the word \"tiny\"<|endoftext|>\n<|assistant|>\n")
        XCTAssertEqual(t.render(system: "S", turns: twoTurns),
                       "<|system|>\nS<|endoftext|>\n<|user|>\nHi<|endoftext|>\n<|assistant|>\nHello!<|endoftext|>\n"
                       + "<|user|>\nHow are you?<|endoftext|>\n<|assistant|>\n")
    }

    func testJapaneseStableLMInstructMatchesTheModelCardsBuildPrompt() throws {
        let t = try library.template(named: "jslm-instruct")
        let sys = "以下は、タスクを説明する指示と、文脈のある入力の組み合わせです。要求を適切に満たす応答を書きなさい。"
        XCTAssertEqual(t.systemDefault, sys)
        // build_prompt(user_query, inputs) with sep "\n\n### " and ": \n" after each role.
        XCTAssertEqual(t.render(system: sys, turns: [Turn(user: "与えられたことわざの意味を教えてください。", input: "情けは人のためならず")]),
                       sys + "\n\n### 指示: \n与えられたことわざの意味を教えてください。\n\n### 入力: \n情けは人のためならず\n\n### 応答: \n")
        XCTAssertEqual(t.render(system: sys, turns: [Turn(user: "日本の首都は？", assistant: "東京です。"), Turn(user: "では大阪は？")]),
                       sys + "\n\n### 指示: \n日本の首都は？\n\n### 応答: \n東京です。\n\n### 指示: \nでは大阪は？\n\n### 応答: \n")
        XCTAssertEqual(t.bos, .none)
    }

    func testJapaneseStableLMAlphaEndsWithASpaceAfterTheResponseMarker() throws {
        let t = try library.template(named: "jslm-instruct-alpha")
        XCTAssertEqual(t.render(system: "S", turns: [Turn(user: "Q")]), "S\n\n### 指示: \nQ\n\n### 応答: ")
    }

    func testLlama2PutsTheSystemPromptInsideTheFirstInstruction() throws {
        let t = try library.template(named: "llama2")
        XCTAssertEqual(t.render(system: "Be brief.", turns: twoTurns),
                       "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]")
        XCTAssertEqual(t.render(system: nil, turns: [Turn(user: " Hi ")]), "<s>[INST] Hi [/INST]")
    }

    /// rinna's model cards: "<NL>".join(f"{speaker}: {text}") + "<NL>システム: ", new lines in a message as <NL>.
    func testRinnaFormatJoinsTurnsWithNLAndWritesNewLinesAsNL() throws {
        let t = try library.template(named: "rinna-instruction")
        XCTAssertEqual(t.render(system: nil, turns: [Turn(user: "日本の首都は？", assistant: "東京です。\n大きな都市です。"),
                                                     Turn(user: "一行目\n二行目")]),
                       "ユーザー: 日本の首都は？<NL>システム: 東京です。<NL>大きな都市です。<NL>ユーザー: 一行目<NL>二行目<NL>システム: ")
        XCTAssertEqual(t.bos, .none)
        XCTAssertEqual(t.answerText("はい。<NL>そうです。"), "はい。\nそうです。")
        XCTAssertEqual(try library.template(named: "chatml").answerText("a<NL>b"), "a<NL>b", "only a format with a newline marker converts")
        XCTAssertTrue(t.jinjaSource.contains("replace('\\n', '<NL>')"), t.jinjaSource)
    }

    /// Japanese StableLM Instruct Beta's build_prompt: "<s>[INST] <<SYS>>\n" + system + "\n<<SYS>>\n\n" + query + "\n\n" + inputs + " [/INST] ".
    func testJapaneseStableLMBetaMatchesTheModelCardsBuildPrompt() throws {
        let t = try library.template(named: "jslm-instruct-beta")
        let sys = try XCTUnwrap(t.systemDefault)
        XCTAssertEqual(sys, "あなたは役立つアシスタントです。")
        XCTAssertEqual(t.render(system: sys, turns: [Turn(user: "与えられたことわざの意味を小学生でも分かるように教えてください。", input: "情けは人のためならず")]),
                       "<s>[INST] <<SYS>>\nあなたは役立つアシスタントです。\n<<SYS>>\n\n与えられたことわざの意味を小学生でも分かるように教えてください。"
                       + "\n\n情けは人のためならず [/INST] ")
        XCTAssertEqual(t.bos, .none)
    }

    func testPlainJoinsTheTextForCompletion() throws {
        let t = try library.template(named: "plain")
        XCTAssertEqual(t.render(system: nil, turns: [Turn(user: "The capital of France is")]), "The capital of France is")
        XCTAssertEqual(t.render(system: "Notes", turns: [Turn(user: "A", assistant: " b."), Turn(user: "C")]), "Notes\n\nA b.\n\nC")
        XCTAssertEqual(t, ChatTemplate.plain.withDescription(t.description))
    }

    func testStopStringsEndTurnsInEveryMarkedFormat() throws {
        XCTAssertEqual(try library.template(named: "chatml").stopStrings, ["<|im_end|>", "<|im_start|>"])
        XCTAssertTrue(try library.template(named: "jslm-instruct").stopStrings.contains("\n\n### 指示"))
        XCTAssertTrue(try library.template(named: "llama2").stopStrings.contains("[INST]"))
        // A base model in plain completion ends at two blank lines in a row instead of padding the context with them.
        XCTAssertEqual(try library.template(named: "plain").stopStrings, ["\n\n\n"])
    }

    func testUnknownTemplateNamesTheKnownOnes() {
        XCTAssertThrowsError(try library.template(named: "vicuna")) { error in
            XCTAssertTrue("\(error)".contains("chatml"), "\(error)")
        }
    }

    func testLibraryIsFoundThroughTheEnvironmentAndByWalkingUp() {
        let nested = Fixtures.repoRoot.appendingPathComponent("Sources/Chat").path
        XCTAssertEqual(TemplateLibrary.locate(environment: [:], currentDirectory: nested, executable: nil)?.standardizedFileURL,
                       Fixtures.repoRoot.appendingPathComponent("prompts").standardizedFileURL)
        XCTAssertEqual(TemplateLibrary.locate(environment: ["HAYAI_PROMPTS": "/x/prompts"], currentDirectory: "/", executable: nil)?.path,
                       "/x/prompts")
        let lonely = TemplateLibrary.load(folder: nil)
        XCTAssertEqual(lonely.names, ["plain"])
        XCTAssertFalse(lonely.problems.isEmpty)
    }

    func testACorruptTemplateFileIsSkippedWithAMessage() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("{\"name\": 3}".utf8).write(to: dir.appendingPathComponent("broken.json"))
        try FileManager.default.copyItem(at: Fixtures.repoRoot.appendingPathComponent("prompts/chatml.json"), to: dir.appendingPathComponent("chatml.json"))
        let lib = TemplateLibrary.load(folder: dir)
        XCTAssertEqual(lib.names, ["chatml", "plain"])
        XCTAssertEqual(lib.problems.count, 1)
        XCTAssertTrue(lib.problems[0].contains("broken.json"), lib.problems[0])
    }
}

extension ChatTemplate {
    func withDescription(_ d: String?) -> ChatTemplate { var t = self; t.description = d; return t }
}

final class MessageAssemblerTests: XCTestCase {
    func testBackslashContinuesAndTripleQuotesMakeABlock() {
        var a = MessageAssembler()
        XCTAssertNil(a.feed("first \\"))
        XCTAssertTrue(a.isContinuing)
        XCTAssertEqual(a.feed("second"), "first \nsecond")
        XCTAssertFalse(a.isContinuing)
        XCTAssertNil(a.feed("\"\"\""))
        XCTAssertNil(a.feed("line 1"))
        XCTAssertNil(a.feed(""))
        XCTAssertEqual(a.feed("line 3\"\"\""), "line 1\n\nline 3")
        XCTAssertNil(a.feed("\"\"\"opening text"))
        XCTAssertEqual(a.feed("\"\"\""), "opening text")
        XCTAssertEqual(a.feed("\"\"\"one line\"\"\""), "one line")
        XCTAssertEqual(a.feed("日本語"), "日本語")
        XCTAssertNil(a.feed("\"\"\""))
        a.reset()
        XCTAssertFalse(a.isContinuing)
        XCTAssertEqual(a.feed("plain"), "plain")
    }
}
