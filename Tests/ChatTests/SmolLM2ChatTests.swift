// With a real instruct model (SmolLM2-135M-Instruct): its GGUF's template is detected as ChatML with
// its default system message, the first turn renders byte for byte as Hugging Face renders it, and
// the KV cache carries over between turns.
import XCTest
import Chat
import Inference
import TestSupport

final class SmolLM2ChatTests: XCTestCase {
    static var cached: (LocalLanguageModel, TemplateDetection)?
    let library = TemplateLibrary.load(folder: Fixtures.repoRoot.appendingPathComponent("prompts"))

    func smolLM2() throws -> (LocalLanguageModel, TemplateDetection) {
        if let c = Self.cached { return c }
        let path: URL
        do { path = try SmolLM2.ggufPath() } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip("\(e)") }
            throw e
        }
        let model = try LocalLanguageModel(path: path.path, runtime: RuntimeOptions(contextLength: 1024))
        let detection = TemplateDetection.detect(model: model.model, library: library)
        Self.cached = (model, detection)
        return (model, detection)
    }

    func expected(_ name: String) throws -> [String: Any] {
        let root = try Fixtures.json(Fixtures.fixture("smollm2/expected.json")) as! [String: Any]
        return (root["prompts"] as! [String: Any])[name] as! [String: Any]
    }

    func testGGUFTemplateIsDetectedAsChatMLWithSmolLMsSystemMessage() throws {
        let (_, detection) = try smolLM2()
        XCTAssertTrue(detection.matched)
        XCTAssertEqual(detection.template.name, "chatml")
        XCTAssertEqual(detection.defaultSystem, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertTrue(detection.notice.contains("chatml"), detection.notice)
    }

    func testFirstTurnIsByteIdenticalToTheJinjaRendering() throws {
        let (model, detection) = try smolLM2()
        let chat = ChatSession(model: model, template: detection.template, checkpointSystem: detection.defaultSystem)
        for name in ["chat_en", "chat_ja"] {
            let p = try expected(name)
            let messages = p["messages"] as! [[String: String]]
            let conversation = Conversation(turns: [Turn(user: messages.last!["content"]!)])
            XCTAssertEqual(Array(chat.render(conversation).utf8), Array((p["prompt_text"] as! String).utf8), name)
            XCTAssertEqual(chat.promptTokens(conversation), p["ids"] as? [Int], name)
        }
    }

    func testSecondTurnComputesOnlyItsNewTokensAndAnswersAsAFreshRecompute() throws {
        let (model, detection) = try smolLM2()
        var settings = ChatSettings()
        settings.sampling.temperature = 0
        settings.maxTokens = 24
        let chat = ChatSession(model: model, template: detection.template, checkpointSystem: detection.defaultSystem, settings: settings)
        let first = try chat.send("What is the capital of France? Answer in one sentence.")
        XCTAssertEqual(first.generation.promptTokensEvaluated, first.generation.promptTokens)
        XCTAssertTrue(first.answer.contains("Paris"), first.answer)
        let cached = model.session.tokens

        let second = try chat.send("And of Japan?")
        let prompt = chat.promptTokens(Conversation(system: nil, turns: [chat.conversation.turns[0], Turn(user: "And of Japan?")]))
        XCTAssertEqual(second.generation.promptTokens, prompt.count)
        XCTAssertEqual(Array(prompt.prefix(cached.count)), cached, "the second prompt extends what the cache holds")
        XCTAssertEqual(second.generation.promptTokensEvaluated, prompt.count - cached.count, "only the new turn is computed")
        XCTAssertLessThan(second.generation.promptTokensEvaluated, 20)

        // The same prompt from an empty cache gives the same greedy answer.
        let fresh = try LocalLanguageModel(model: model.model, runtime: RuntimeOptions(contextLength: 1024))
        var options = GenerationOptions()
        options.maxTokens = 24
        options.sampling = .greedy
        options.stopStrings = detection.template.stopStrings
        let recomputed = try fresh.generate(prompt: prompt, options: options) { _ in true }
        XCTAssertEqual(recomputed.promptTokensEvaluated, prompt.count)
        XCTAssertEqual(recomputed.text, second.answer)
    }

    func testUndoAndRetryReuseTheCache() throws {
        let (model, detection) = try smolLM2()
        var settings = ChatSettings()
        settings.sampling.temperature = 0
        settings.maxTokens = 12
        let chat = ChatSession(model: model, template: detection.template, checkpointSystem: detection.defaultSystem, settings: settings)
        let a = try chat.send("日本の首都はどこですか？一文で答えてください。")
        let b = try chat.retry()
        XCTAssertEqual(a.answer, b.answer, "greedy retry reproduces")
        XCTAssertEqual(b.generation.promptTokensEvaluated, 1, "the prompt is still cached; only its last token is recomputed")
        XCTAssertEqual(chat.conversation.turns.count, 1)
        XCTAssertNotNil(chat.undo())
        XCTAssertEqual(chat.conversation.turns.count, 0)
        XCTAssertNil(chat.undo())
    }
}
