// Recognising a checkpoint's chat template by its markers, and the fallback to plain; a LoRA adapter
// folder's own template wins over its base's.
import XCTest
import Foundation
import Chat
import Checkpoints
import Inference
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

    /// A model run with an adapter is chatted with in the template the adapter folder carries (the format
    /// its data was rendered in), not the base's; an adapter folder without one leaves the base's.
    func testAnAdapterFoldersChatTemplateWinsOverTheBases() throws {
        let dir = Fixtures.temporaryDirectory("adapter-template")
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("base")
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny"), to: base)
        let chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>'}}{% endfor %}"
        var baseConfig = try XCTUnwrap(try Fixtures.json(base.appendingPathComponent("tokenizer_config.json")) as? [String: Any])
        baseConfig["chat_template"] = chatml
        try JSONSerialization.data(withJSONObject: baseConfig).write(to: base.appendingPathComponent("tokenizer_config.json"))

        let model = try Model.load(path: base.path)
        XCTAssertNil(model.adapterPath)
        XCTAssertEqual(TemplateDetection.detect(model: model, library: library).template.name, "chatml")
        let settings = LoRASettings(rank: 2, alpha: 4, targets: [.q])
        var adapters: [WeightKey: LoRAAdapter] = [:]
        for w in model.plan.weights where w.role == .q {
            adapters[WeightKey(.q, w.layer)] = LoRAAdapter(a: FloatTensor(values: .init(repeating: 0.01, count: 2 * w.shape[1]), shape: [2, w.shape[1]]),
                                                           b: FloatTensor(values: .init(repeating: 0, count: w.shape[0] * 2), shape: [w.shape[0], 2]), scale: 2)
        }
        let jslm = "{{ '以下は…' }}{% for m in messages %}{{ '\\n\\n### 指示: \\n' + m['content'] }}{% endfor %}"
        let withTemplate = dir.appendingPathComponent("adapter").path, without = dir.appendingPathComponent("bare-adapter").path
        try AdapterFolder.write(adapters, settings: settings, plan: model.plan, base: base.path, to: withTemplate,
                                extraFiles: ["tokenizer_config.json": try JSONSerialization.data(withJSONObject: ["chat_template": jslm])])
        try AdapterFolder.write(adapters, settings: settings, plan: model.plan, base: base.path, to: without)

        let tuned = try Model.load(path: base.path, adapter: withTemplate)
        XCTAssertEqual(tuned.adapterPath, withTemplate)
        let detected = TemplateDetection.detect(model: tuned, library: library)
        XCTAssertEqual(detected.template.name, "jslm-instruct")
        XCTAssertTrue(detected.notice.contains("detected from the adapter"), detected.notice)
        XCTAssertEqual(TemplateDetection.detect(model: try Model.load(path: base.path, adapter: without), library: library).template.name, "chatml")
    }
}
