// The Japanese families at the command line: a rinna-style folder (gpt_neox + spiece.model) gives
// transformers' logits through `hayai logits`; a config with a rope type hayai does not implement, or a
// tokenizer_config.json naming a tokenizer class whose file is missing, is one line and exit 1.
import XCTest
import Foundation
import TestSupport

final class JapaneseFamiliesCLITests: XCTestCase {
    var scratch: URL!

    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-japanese-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    /// A writable copy of a folder of Tests/Fixtures/japanese.
    func copy(_ name: String) throws -> URL {
        let dst = scratch.appendingPathComponent(name)
        try FileManager.default.copyItem(at: Fixtures.japanese(name), to: dst)
        return dst
    }

    func testRinnaStyleFolderGivesTransformersLogits() throws {
        let folder = Fixtures.japanese("gptneox-spm")
        let expected = try Fixtures.json(folder.appendingPathComponent("expected.json")) as! [String: Any]
        let prompt = (expected["prompts"] as! [[String: Any]])[1]
        let ids = (prompt["ids"] as! [NSNumber]).map(\.intValue)
        let r = try HayaiBinary.run(["logits", folder.path, "--ids", ids.map(String.init).joined(separator: ","), "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let last = try XCTUnwrap((out["logits"] as? [[NSNumber]])?.last).map(\.floatValue)
        let want = (prompt["last_logits"] as! [NSNumber]).map(\.floatValue)
        XCTAssertEqual(last.count, want.count)
        XCTAssertLessThan(zip(last, want).map { abs($0 - $1) }.max() ?? 1, 1e-4)
    }

    func testUnsupportedRopeTypeIsOneLine() throws {
        let folder = try copy("gptneox-spm")
        let configURL = folder.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
        config["rope_scaling"] = ["type": "yarn", "factor": 4.0]
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        try assertHayaiFailsWithOneLine(["logits", folder.path, "--ids", "1,2", "--json"], [configURL.path, "rope type 'yarn' is not supported"])
    }

    func testTokenizerClassWithoutItsFileIsOneLine() throws {
        let folder = try copy("gptneox-spm")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("spiece.model"))
        try assertHayaiFailsWithOneLine(["logits", folder.path, "--text", "東京", "--json"],
                               [folder.appendingPathComponent("tokenizer_config.json").path, "T5Tokenizer reads spiece.model"])
    }
}
