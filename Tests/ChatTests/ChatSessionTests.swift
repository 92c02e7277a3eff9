// Conversation bookkeeping with the tiny fixture model (context 256): context overflow drops the
// oldest turns, a message longer than the context is refused, save/load round-trips, settings.
import XCTest
import Chat
import Inference
import TestSupport

final class ChatSessionTests: XCTestCase {
    func tinySession(maxTokens: Int = 8) throws -> ChatSession {
        let model = try LocalLanguageModel(path: Fixtures.fixture("stablelm-tiny").path)
        var settings = ChatSettings()
        settings.sampling.temperature = 0
        settings.maxTokens = maxTokens
        let library = TemplateLibrary.load(folder: Fixtures.repoRoot.appendingPathComponent("prompts"))
        return ChatSession(model: model, template: try library.template(named: "chatml"), settings: settings)
    }

    func testWhenTheContextFillsTheOldestTurnsAreDroppedAndTheSystemPromptStays() throws {
        let chat = try tinySession()
        chat.conversation.system = "Keep me."
        let long = String(repeating: "word ", count: 40)
        var dropped = 0
        for _ in 0..<8 { dropped += try chat.send(long).droppedTurns }
        XCTAssertGreaterThan(dropped, 0)
        XCTAssertLessThan(chat.conversation.turns.count, 8)
        XCTAssertEqual(chat.conversation.system, "Keep me.")
        XCTAssertTrue(chat.render().hasPrefix("<|im_start|>system\nKeep me.<|im_end|>\n"))
        XCTAssertLessThanOrEqual(chat.contextUsed, chat.contextSize)
    }

    func testAMessageLongerThanTheWholeContextIsRefusedAndTheConversationStays() throws {
        let chat = try tinySession()
        try chat.send("hello")
        XCTAssertThrowsError(try chat.send(String(repeating: "word ", count: 400))) { error in
            guard case ChatError.messageTooLong(let tokens, let context) = error else { return XCTFail("\(error)") }
            XCTAssertGreaterThan(tokens, context)
        }
        XCTAssertEqual(chat.conversation.turns.count, 1)
        XCTAssertNoThrow(try chat.send("again"))
    }

    func testStoppingTheStreamKeepsThePartialAnswer() throws {
        let chat = try tinySession(maxTokens: 50)
        var pieces = 0
        let r = try chat.send("hello") { _ in pieces += 1; return pieces < 2 }
        XCTAssertEqual(r.generation.stopReason, .cancelled)
        XCTAssertEqual(chat.conversation.turns.last?.assistant, r.answer)
    }

    func testSavedChatRoundTripsAndLoadRecomputesTheCache() throws {
        let chat = try tinySession()
        chat.conversation.system = "S"
        try chat.send("one")
        try chat.send("two")
        try chat.settings.set("top_k", to: "7")
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("chats/x.json")
        try SavedChat(model: "m", template: chat.template.name, conversation: chat.conversation, settings: chat.settings).write(to: url)
        let loaded = try SavedChat.read(from: url)
        XCTAssertEqual(loaded.conversation, chat.conversation)
        XCTAssertEqual(loaded.settings.sampling.topK, 7)

        let other = try tinySession()
        other.conversation = loaded.conversation
        other.settings = loaded.settings
        try other.recomputeCache()
        XCTAssertEqual(other.contextUsed, other.promptTokens(addGenerationPrompt: false).count)
        let next = try other.send("three")
        XCTAssertEqual(next.generation.promptTokensEvaluated, next.generation.promptTokens - other.promptTokens(
            Conversation(system: "S", turns: Array(other.conversation.turns.dropLast())), addGenerationPrompt: false).count)
    }

    func testMissingOrCorruptSavedChatGivesAClearError() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try SavedChat.read(from: dir.appendingPathComponent("nope.json"))) { error in
            XCTAssertTrue("\(error)".contains("no such file"), "\(error)")
        }
        let bad = dir.appendingPathComponent("bad.json")
        try Data("{\"version\": 1, \"turns\": [".utf8).write(to: bad)
        XCTAssertThrowsError(try SavedChat.read(from: bad)) { error in
            XCTAssertTrue("\(error)".contains("bad.json: not a saved chat"), "\(error)")
        }
    }

    func testSettingsAreCheckedByName() throws {
        var s = ChatSettings()
        try s.set("temp", to: "0")
        XCTAssertEqual(s.sampling.temperature, 0)
        try s.set("max_tokens", to: "5")
        XCTAssertEqual(s.maxTokens, 5)
        XCTAssertThrowsError(try s.set("top_p", to: "2")) { XCTAssertTrue("\($0)".contains("top-p"), "\($0)") }
        XCTAssertThrowsError(try s.set("temp", to: "hot")) { XCTAssertTrue("\($0)".contains("temp needs a number"), "\($0)") }
        XCTAssertThrowsError(try s.set("warmth", to: "1")) { XCTAssertTrue("\($0)".contains("unknown setting"), "\($0)") }
        XCTAssertEqual(s.sampling.temperature, 0, "a rejected value leaves the settings as they were")
    }
}
