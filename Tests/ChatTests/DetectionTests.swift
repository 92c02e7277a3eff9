// Recognising a checkpoint's chat template by its markers, and the fallback to plain.
import XCTest
import Chat
import TestSupport

final class DetectionTests: XCTestCase {
    let library = TemplateLibrary.load(folder: Fixtures.repoRoot.appendingPathComponent("prompts"))

    func testKnownTemplatesAreRecognisedByTheirMarkers() {
        let zephyr = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n"
            + "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}{% endfor %}"
        let stablelm2 = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        let llama2 = "{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}"
        let jslm = "{{ '以下は…' }}{% for m in messages %}{{ '\\n\\n### 指示: \\n' + m['content'] }}{% endfor %}"
        XCTAssertEqual(TemplateDetection.detect(source: zephyr, library: library).template.name, "stablelm-zephyr")
        let d = TemplateDetection.detect(source: stablelm2, library: library)
        XCTAssertEqual(d.template.name, "chatml")
        XCTAssertNil(d.defaultSystem, "a template without a literal system message has no default")
        XCTAssertEqual(TemplateDetection.detect(source: llama2, library: library).template.name, "llama2")
        XCTAssertEqual(TemplateDetection.detect(source: jslm, library: library).template.name, "jslm-instruct")
    }

    /// A template hayai writes for a format (train sft --template NAME) is recognised as that format again,
    /// Japanese StableLM Beta's ahead of plain Llama 2 by its system prompt.
    func testWrittenTemplatesOfTheJapaneseFormatsAreDetectedAgain() throws {
        for name in ["rinna-instruction", "jslm-instruct-beta", "jslm-instruct", "llama2"] {
            let source = try library.template(named: name).jinjaSource
            XCTAssertEqual(TemplateDetection.detect(source: source, library: library).template.name, name, source)
        }
    }

    func testMissingOrUnknownTemplateFallsBackToPlainWithANotice() {
        let none = TemplateDetection.detect(source: nil, library: library)
        XCTAssertEqual(none.template.name, "plain")
        XCTAssertFalse(none.matched)
        XCTAssertTrue(none.notice.contains("no chat template"), none.notice)
        let other = TemplateDetection.detect(source: "{{ '<start_of_turn>user' }}", library: library)
        XCTAssertEqual(other.template.name, "plain")
        XCTAssertTrue(other.notice.contains("matches no known format"), other.notice)
    }

    func testTheStableLMFixtureWithoutATemplateUsesPlain() {
        let source = TemplateDetection.checkpointTemplate(path: Fixtures.fixture("stablelm-tiny").path)
        XCTAssertNil(source)
        XCTAssertEqual(TemplateDetection.detect(source: source, library: library).template.name, "plain")
    }

    func testTemplateInTokenizerConfigIsRead() throws {
        let dir = Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = ["chat_template": "{{'<|im_start|>' + message['role']}}"]
        try JSONSerialization.data(withJSONObject: config).write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let source = TemplateDetection.checkpointTemplate(path: dir.path)
        XCTAssertEqual(TemplateDetection.detect(source: source, library: library).template.name, "chatml")
    }
}
