// Bad input to pretraining: each case is a one-line error naming the file, and nothing saved before
// is lost — configs, presets, text and shards, `--resume` without a usable checkpoint, a disk that
// fills up while a checkpoint is written.
import XCTest
import Corpus
import Foundation
import Checkpoints
@testable import Training
import TestSupport

final class PretrainBadInputTests: XCTestCase {
    var scratch: URL!
    override func setUp() { scratch = Fixtures.temporaryDirectory("hayai-pretrain-bad") }
    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func expectError(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing from: \(text)", file: file, line: line) }
        }
    }

    func data() throws -> PretrainData {
        try PretrainData.text(PretrainFixture.writeText(PretrainFixture.text(), in: scratch), tokenizerFolder: PretrainFixture.tokenizerFolder)
    }

    // MARK: - Configs

    func testConfigWhoseHeadsDoNotDivideTheHiddenSizeIsRejected() throws {
        let path = try PretrainFixture.writeText(#"{"preset": "tiny", "hidden_size": 100, "num_attention_heads": 3}"#, in: scratch, name: "bad.json")
        let config = try PretrainConfig.resolve(path)
        expectError([path, "hidden_size 100", "num_attention_heads 3"]) { try config.validate(path: path) }
        let kv = try PretrainFixture.writeText(#"{"num_attention_heads": 4, "num_key_value_heads": 3}"#, in: scratch, name: "kv.json")
        expectError([kv, "num_key_value_heads 3"]) { try PretrainConfig.resolve(kv).validate(path: kv) }
    }

    func testUnknownPresetKeyAndMalformedConfigFilesAreNamed() throws {
        expectError(["unknown preset 'huge'", "tiny, small"]) { _ = try PretrainConfig.resolve("huge") }
        expectError(["missing.json", "no such file"]) { _ = try PretrainConfig.resolve(self.scratch.appendingPathComponent("missing.json").path) }
        let typo = try PretrainFixture.writeText(#"{"hiden_size": 64}"#, in: scratch, name: "typo.json")
        expectError([typo, "unknown key 'hiden_size'"]) { _ = try PretrainConfig.resolve(typo) }
        let type = try PretrainFixture.writeText(#"{"steps": "many"}"#, in: scratch, name: "type.json")
        expectError([type, "'steps'"]) { _ = try PretrainConfig.resolve(type) }
        let broken = try PretrainFixture.writeText(#"{"steps": 3"#, in: scratch, name: "broken.json")
        expectError([broken, "not valid JSON"]) { _ = try PretrainConfig.resolve(broken) }
        let empty = try PretrainFixture.writeText("", in: scratch, name: "empty.json")
        expectError([empty, "empty"]) { _ = try PretrainConfig.resolve(empty) }
        let preset = try PretrainFixture.writeText(#"{"preset": "medium"}"#, in: scratch, name: "preset.json")
        expectError([preset, "unknown preset 'medium'"]) { _ = try PretrainConfig.resolve(preset) }
    }

    func testConfigFilesOverrideTheirPreset() throws {
        let path = try PretrainFixture.writeText(#"{"preset": "small", "steps": 12, "lr": 0.002, "minutes": null}"#, in: scratch, name: "c.json")
        let config = try PretrainConfig.resolve(path)
        var expected = Presets.small
        expected.steps = 12; expected.lr = 0.002
        XCTAssertEqual(config, expected)
        XCTAssertEqual(try PretrainConfig.resolve("tiny"), Presets.tiny)
        for name in Presets.names { XCTAssertNoThrow(try Presets.named(name)!.validate(path: name)) }
    }

    // MARK: - Data

    func testEmptyTextIsAnError() throws {
        let path = try PretrainFixture.writeText("\n  \n\n", in: scratch, name: "empty.txt")
        expectError([path, "empty"]) { _ = try PretrainData.text(path, tokenizerFolder: PretrainFixture.tokenizerFolder) }
    }

    func testInvalidUTF8LinesAreSkippedAndReportedByLine() throws {
        var bytes = Data(PretrainFixture.text(paragraphs: 30).utf8)
        bytes.append(contentsOf: [0x62, 0x61, 0x64, 0xFF, 0xFE, 0x0A])   // "bad\xFF\xFE\n"
        bytes.append(Data("good line\n".utf8))
        bytes.append(contentsOf: [0xC3, 0x28, 0x0A])
        let path = scratch.appendingPathComponent("mixed.txt").path
        try bytes.write(to: URL(fileURLWithPath: path))
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).count - 1
        let data = try PretrainData.text(path, tokenizerFolder: PretrainFixture.tokenizerFolder)
        XCTAssertEqual(data.warnings.count, 1)
        XCTAssertTrue(data.warnings[0].contains(path), data.warnings[0])
        XCTAssertTrue(data.warnings[0].contains("2 lines"), data.warnings[0])
        XCTAssertTrue(data.warnings[0].contains("line \(lines - 2), \(lines)"), data.warnings[0])

        let allBad = scratch.appendingPathComponent("bad.txt").path
        try Data([0xFF, 0x0A, 0xC3, 0x28]).write(to: URL(fileURLWithPath: allBad))
        expectError([allBad, "no valid UTF-8"]) { _ = try PretrainData.text(allBad, tokenizerFolder: PretrainFixture.tokenizerFolder) }
    }

    func testTextTooShortForOneBatchIsAnError() throws {
        let path = try PretrainFixture.writeText("Hello.\n", in: scratch, name: "short.txt")
        let data = try PretrainData.text(path, tokenizerFolder: PretrainFixture.tokenizerFolder)
        expectError([path, "fewer than one micro-batch"]) {
            _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: PretrainFixture.options(self.scratch.appendingPathComponent("o").path))
        }
    }

    func testCorpusShardsReadBackAndBadShardsAreNamed() throws {
        let corpus = scratch.appendingPathComponent("corpus")
        let tokens = corpus.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        expectError([tokens.path, "no train_*.bin"]) { _ = try PretrainData.corpus(corpus.path, tokenizerFolder: PretrainFixture.tokenizerFolder) }

        let text = try data()
        let all = text.train.tokens(0..<text.train.count)
        func write(_ ids: [Int], to path: String, vocabularySize: Int = 2000) throws {
            try TokenShard.write(ids.map { Int32($0) }, to: path, vocabularySize: vocabularySize)
        }
        try write(Array(all[..<300]), to: tokens.appendingPathComponent("train_000000.bin").path)
        try write(Array(all[300...]), to: tokens.appendingPathComponent("train_000001.bin").path)
        try write(text.validation.tokens(0..<text.validation.count), to: tokens.appendingPathComponent("val_000000.bin").path)
        // The tokenizer is found in CORPUS/tokenizer/.
        try FileManager.default.copyItem(atPath: PretrainFixture.tokenizerFolder, toPath: corpus.appendingPathComponent("tokenizer").path)
        let loaded = try PretrainData.corpus(corpus.path)
        XCTAssertEqual(loaded.train.count, all.count)
        XCTAssertEqual(loaded.train.tokens(250..<350), Array(all[250..<350]), "windows cross shard boundaries")
        XCTAssertEqual(loaded.validation.count, text.validation.count)

        let wide = tokens.appendingPathComponent("wide.bin").path
        try write([1, 70000, 3], to: wide, vocabularySize: 70001)
        let reader = try TokenShard(path: wide)
        XCTAssertEqual(reader.version, 2)
        XCTAssertEqual([reader[0], reader[1], reader[2]], [1, 70000, 3])

        let shard = tokens.appendingPathComponent("train_000001.bin")
        let good = try Data(contentsOf: shard)
        try good.prefix(good.count - 10).write(to: shard)
        expectError([shard.path, "truncated?"]) { _ = try PretrainData.corpus(corpus.path) }
        var badMagic = good
        badMagic[0] = 1
        try badMagic.write(to: shard)
        expectError([shard.path, "magic"]) { _ = try PretrainData.corpus(corpus.path) }
        try write([5, 2500, 7], to: shard.path, vocabularySize: 3000)
        expectError(["2500", "vocabulary"]) { _ = try PretrainData.corpus(corpus.path) }
        try write([], to: tokens.appendingPathComponent("train_000000.bin").path)
        try write([], to: shard.path)
        expectError(["empty"]) { _ = try PretrainData.corpus(corpus.path) }
    }

    // MARK: - Checkpoints

    func testResumeWithoutACheckpointIsAnError() throws {
        let data = try data()
        var options = PretrainFixture.options(scratch.appendingPathComponent("none").path)
        options.resume = true
        expectError(["none", "no such checkpoint folder"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }
        try FileManager.default.createDirectory(atPath: options.out, withIntermediateDirectories: true)
        expectError(["none", "no checkpoint to resume from"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }
    }

    func testResumeFromACorruptCheckpointNamesTheFileAndStartingOverIsRefused() throws {
        let data = try data()
        let out = scratch.appendingPathComponent("run").path
        var options = PretrainFixture.options(out)
        options.stopAfterStep = 4
        try PretrainRun(config: PretrainFixture.config(), data: data, options: options).run()

        options.stopAfterStep = nil
        expectError([out, "already holds a checkpoint", "--resume"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }

        options.resume = true
        let model = out + "/step-4/model.safetensors"
        let saved = try Data(contentsOf: URL(fileURLWithPath: model))
        try saved.prefix(saved.count / 2).write(to: URL(fileURLWithPath: model))
        expectError([model, "truncated"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }
        try saved.write(to: URL(fileURLWithPath: model))

        let state = out + "/step-4/trainer_state.json"
        let savedState = try Data(contentsOf: URL(fileURLWithPath: state))
        try Data("{\"step\": ".utf8).write(to: URL(fileURLWithPath: state))
        expectError([state, "corrupt"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }
        try savedState.write(to: URL(fileURLWithPath: state))

        let optimizer = out + "/step-4/optimizer.safetensors"
        try FileManager.default.removeItem(atPath: optimizer)
        expectError([optimizer, "missing optimizer state"]) { _ = try PretrainRun(config: PretrainFixture.config(), data: data, options: options) }
    }

    func testResumeWithADifferentModelConfigIsRefused() throws {
        let data = try data()
        let out = scratch.appendingPathComponent("run").path
        var options = PretrainFixture.options(out)
        options.stopAfterStep = 2
        try PretrainRun(config: PretrainFixture.config(), data: data, options: options).run()
        options.resume = true; options.stopAfterStep = nil
        var other = PretrainFixture.config()
        other.hiddenSize = 64
        expectError(["hidden_size", "differs from the checkpoint"]) { _ = try PretrainRun(config: other, data: data, options: options) }
        var longer = PretrainFixture.config()
        longer.steps = 20
        XCTAssertNoThrow(try PretrainRun(config: longer, data: data, options: options))
    }

    func testAFullDiskDuringACheckpointLeavesThePreviousOneWhole() throws {
        let data = try data()
        let out = scratch.appendingPathComponent("run").path
        var options = PretrainFixture.options(out)
        var writes = 0
        options.checkpointFault = { checkpoint, file in
            if checkpoint.hasSuffix("step-8") && file == "optimizer.safetensors" {
                writes += 1
                throw CheckpointError.cannotWrite(path: checkpoint, reason: "No space left on device (simulated)")
            }
        }
        expectError([out + "/step-8", "No space left on device"]) {
            try PretrainRun(config: PretrainFixture.config(steps: 8), data: data, options: options).run()
        }
        XCTAssertEqual(writes, 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        XCTAssertEqual(names, ["step-4"], "no half-written checkpoint or temporary folder")
        XCTAssertNoThrow(try ParameterStore.load(folder: out + "/step-4"))
        options.checkpointFault = nil
        options.resume = true
        let resumed = try PretrainRun(config: PretrainFixture.config(steps: 8), data: data, options: options)
        XCTAssertEqual(resumed.state.step, 4)
        XCTAssertEqual(try resumed.run(), .completed(step: 8))
    }
}
