// Exports parse back: CSV rows, one JSONL object per step, and the W&B folder's four files.
import Foundation
import XCTest
@testable import RunStore
import TestSupport

final class ExportTests: XCTestCase {
    var workspace: URL!
    var store: RunStore!
    var run: Run!

    override func setUpWithError() throws {
        workspace = Fixtures.temporaryDirectory("runstore-export")
        store = try RunStore.open(workspace: workspace)
        run = try store.createRun(kind: .pretrain, name: "exp", model: "m/x",
                                  config: #"{"lr": 0.0003, "model": {"layers": 2, "name": "a \"b\""}, "tags": ["x", "y"], "seed": 12345678901}"#)
        try store.log(run: run, step: 0, tokens: 512, metrics: ["train/loss": 10.801986733067553, "lr": 1e-05])
        try store.log(run: run, step: 1, tokens: 1024, metrics: ["train/loss": 9.5, "lr": 2e-05, "grad,norm": .nan])
        try store.log(run: run, step: 2, metrics: ["val/loss": 9.25])
        run = try store.finish(run: run, summary: ["val/bpb": 1.25])
    }

    override func tearDown() { try? FileManager.default.removeItem(at: workspace) }

    func testCSVHasHeaderAndOneRowPerPoint() throws {
        let lines = try store.export(run: run, format: .csv).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.first, "step,tokens,name,value,time")
        XCTAssertEqual(lines.last, "", "ends with a newline")
        let rows = lines.dropFirst().dropLast().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(rows.count, 6)
        XCTAssertEqual(Array(rows[0].prefix(4)), ["0", "512", "lr", "1e-05"])
        XCTAssertEqual(Double(rows[1][3]), 10.801986733067553, "values round-trip exactly")
        XCTAssertEqual(Array(rows[2].prefix(2)), ["1", "1024"])
        XCTAssertEqual(rows[2][2...4], [#""grad"#, #"norm""#, "nan"], "a name with a comma is quoted")
        XCTAssertEqual(Array(rows[5].prefix(4)), ["2", "", "val/loss", "9.25"])
        for row in rows { XCTAssertNotNil(Double(row.last!), "time is a number") }
    }

    func testJSONLHasOneObjectPerStep() throws {
        let url = workspace.appendingPathComponent("m.jsonl")
        try store.export(run: run, format: .jsonl, to: url)
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let objects = try lines.map { try XCTUnwrap(try JSONDecoder().decode([String: Double?].self, from: Data($0.utf8))) }
        XCTAssertEqual(objects[0]["step"], 0)
        XCTAssertEqual(objects[0]["tokens"], 512)
        XCTAssertEqual(objects[0]["train/loss"], 10.801986733067553)
        XCTAssertEqual(objects[0]["lr"], 1e-05)
        XCTAssertEqual(objects[1]["grad,norm"], .some(nil), "NaN is written as null")
        XCTAssertEqual(objects[2]["val/loss"], 9.25)
        XCTAssertFalse(objects[2].keys.contains("tokens"), "tokens only when known")
        XCTAssertNotNil(objects[2]["time"] ?? nil)
    }

    func testWandbFolderHoldsHistorySummaryConfigAndMetadata() throws {
        let folder = workspace.appendingPathComponent("exp-wandb")
        try store.exportWandb(run: run, to: folder)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        XCTAssertEqual(files, ["config.yaml", "wandb-history.jsonl", "wandb-metadata.json", "wandb-summary.json"])

        let history = try String(contentsOf: folder.appendingPathComponent("wandb-history.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONDecoder().decode([String: Double?].self, from: Data($0.utf8)) }
        XCTAssertEqual(history.map { $0["_step"] }, [0, 1, 2])
        XCTAssertEqual(history[1]["train/loss"], 9.5)
        for row in history {
            XCTAssertNotNil(row["_timestamp"] ?? nil)
            XCTAssertGreaterThanOrEqual((row["_runtime"] ?? nil) ?? -1, 0)
        }

        let summary = try JSONDecoder().decode([String: Double].self, from: Data(contentsOf: folder.appendingPathComponent("wandb-summary.json")))
        XCTAssertEqual(summary["train/loss"], 9.5)
        XCTAssertEqual(summary["val/loss"], 9.25)
        XCTAssertEqual(summary["val/bpb"], 1.25)
        XCTAssertEqual(summary["_step"], 2)
        XCTAssertNil(summary["grad,norm"], "non-finite last values stay out of the summary")

        let metadata = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("wandb-metadata.json"))) as? [String: Any])
        XCTAssertEqual(metadata["state"] as? String, "finished")
        XCTAssertEqual(metadata["program"] as? String, "hayai")

        let yaml = try String(contentsOf: folder.appendingPathComponent("config.yaml"), encoding: .utf8)
        XCTAssertTrue(yaml.hasPrefix("wandb_version: 1\n"), yaml)
        XCTAssertTrue(yaml.contains(#"""
            "lr":
              desc: null
              value: 0.0003
            """#), yaml)
        XCTAssertTrue(yaml.contains(#"value: {"layers": 2, "name": "a \"b\""}"#), yaml)
        XCTAssertTrue(yaml.contains(#"value: 12345678901"#), yaml)
        XCTAssertTrue(yaml.contains(#"value: {"name": "exp", "kind": "pretrain", "model": "m/x", "parent": null}"#), yaml)
    }

    /// PyYAML, where the machine has it, reads config.yaml the way W&B does.
    func testWandbConfigParsesWithPyYAML() throws {
        let folder = workspace.appendingPathComponent("w")
        try store.exportWandb(run: run, to: folder)
        let script = """
            import json, sys, yaml
            c = yaml.safe_load(open(sys.argv[1]))
            print(json.dumps({k: v["value"] for k, v in c.items() if k != "wandb_version"}, sort_keys=True))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, folder.appendingPathComponent("config.yaml").path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw XCTSkip("python3 not available") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw XCTSkip("python3 with PyYAML not available") }
        let config = try XCTUnwrap(try JSONValue.parse(String(decoding: data, as: UTF8.self)))
        guard case .object(let values) = config else { return XCTFail("\(config)") }
        XCTAssertEqual(values["lr"], .double(0.0003))
        XCTAssertEqual(values["seed"], .int(12345678901))
        XCTAssertEqual(values["tags"], .array([.string("x"), .string("y")]))
        XCTAssertEqual(values["model"], .object(["layers": .int(2), "name": .string("a \"b\"")]))
        XCTAssertEqual(values["_hayai"], .object(["name": .string("exp"), "kind": .string("pretrain"), "model": .string("m/x"), "parent": .null]))
    }
}
