// Scoring a model served elsewhere: the harness's runner through EndpointModel against an in-process
// `OpenAIServer` gives lm-eval's tinymc log-likelihoods item for item, and `hayai eval --endpoint`
// against `hayai serve` stores the same acc/acc_norm as a local `hayai eval`, with the endpoint and
// the server's tokenization in the run's config; `hayai compare` pairs the two runs.
import Chat
import Evaluation
import Foundation
import Inference
import Kernels
import RunStore
@testable import Serving
import TestSupport
import Workbench
import XCTest

final class EndpointEvalTests: XCTestCase {
    static let fixture = Fixtures.fixture("lmeval_tinymc")
    static var taskFile: String { fixture.appendingPathComponent("tinymc.yaml").path }

    /// The fixture model served by this process on a free port (quiet).
    static func inProcessServer() async throws -> (OpenAIServer, UInt16) {
        let model = try LocalLanguageModel(path: ServerProcess.tinyModel, runtime: RuntimeOptions(threads: 1))
        var options = ServeOptions()
        options.port = 0
        let server = try OpenAIServer(model: model, template: .plain, options: options)
        server.log = { _ in }
        return (server, try await server.start())
    }

    func testRunnerThroughAnEndpointMatchesLocalScoresItemForItem() async throws {
        let (server, port) = try await Self.inProcessServer()
        let task = try EvalTask.load(path: Self.taskFile)

        let served = try EndpointModel(endpoint: "http://127.0.0.1:\(port)")
        XCTAssertEqual(served.model, "stablelm-tiny", "the first model the server lists")
        let remote = MemorySink(), local = MemorySink()
        let remoteResult = try await Task.detached { try Runner(served: served).run(task, sink: remote) }.value
        let localModel = try LocalLanguageModel(path: ServerProcess.tinyModel, runtime: RuntimeOptions(threads: 1))
        let localResult = try Runner(model: localModel).run(task, sink: local)
        XCTAssertEqual(remote.results.count, 10)
        for (r, l) in zip(remote.results, local.results) {
            XCTAssertEqual(r.choices.count, l.choices.count)
            for (a, b) in zip(r.choices, l.choices) {
                XCTAssertEqual(a.logLikelihood, b.logLikelihood, accuracy: 1e-4, "item \(r.index) \(a.text)")
                XCTAssertEqual(a.isGreedy, b.isGreedy, "item \(r.index) \(a.text)")
                XCTAssertEqual(a.continuationTokens, b.continuationTokens, "item \(r.index) \(a.text): the server's tokens after text_offset")
                XCTAssertEqual(a.contextTokens, b.contextTokens)
            }
        }
        XCTAssertEqual(remoteResult.metric("acc")?.value, localResult.metric("acc")?.value)
        XCTAssertEqual(remoteResult.metric("acc_norm")?.value, localResult.metric("acc_norm")?.value)
        await server.stop()
        XCTAssertFalse(Interrupt.isRequested, "a stopped server leaves the process-wide interrupt flag down")
    }

    func testGenerationTaskThroughAnEndpointGivesTheLocalAnswers() async throws {
        let folder = Fixtures.temporaryDirectory("endpoint-gen")
        defer { try? FileManager.default.removeItem(at: folder) }
        let items = ["What is two and two?", "Name a fruit.", "Where is Tokyo?", "Say hello."].map { #"{"q": "\#($0)", "a": "yes"}"# }
        try items.joined(separator: "\n").write(to: folder.appendingPathComponent("gen.jsonl"), atomically: true, encoding: .utf8)
        try """
            task: gen_probe
            data_file: gen.jsonl
            output_type: generate_until
            doc_to_text: "Q: {{q}}\\nA:"
            doc_to_target: a
            generation_kwargs:
              until: ["\\n\\n"]
              max_gen_toks: 9
            metric_list:
              - metric: exact_match
            metadata:
              version: 1.0
            """.write(to: folder.appendingPathComponent("gen.yaml"), atomically: true, encoding: .utf8)
        let task = try EvalTask.load(path: folder.appendingPathComponent("gen.yaml").path)
        let (server, port) = try await Self.inProcessServer()
        let served = try EndpointModel(endpoint: "http://127.0.0.1:\(port)/v1/")
        let remote = MemorySink(), local = MemorySink()
        _ = try await Task.detached { try Runner(served: served).run(task, sink: remote) }.value
        _ = try Runner(model: try LocalLanguageModel(path: ServerProcess.tinyModel, runtime: RuntimeOptions(threads: 1))).run(task, sink: local)
        XCTAssertEqual(remote.results.count, 4)
        XCTAssertEqual(remote.results.map(\.prediction), local.results.map(\.prediction))
        XCTAssertTrue(local.results.contains { !$0.prediction.isEmpty })
        await server.stop()
    }

    /// A served model that raises the interrupt flag (as Ctrl-C would) once `after` scoring calls are
    /// answered (after the answer: the in-process server shares the process-wide flag).
    final class InterruptingServed: ServedModel {
        let inner: ServedModel, after: Int
        var calls = 0
        init(_ inner: ServedModel, after: Int) { self.inner = inner; self.after = after }
        var name: String { inner.name }
        func score(context: String, continuations: [String]) throws -> [TextScore] {
            calls += 1
            let scores = try inner.score(context: context, continuations: continuations)
            if calls >= after { Interrupt.request() }
            return scores
        }
        func generate(prompt: String, maxTokens: Int, until: [String]) throws -> String {
            try inner.generate(prompt: prompt, maxTokens: maxTokens, until: until)
        }
    }

    func testAnInterruptedEndpointRunResumesThroughTheStoredEndpoint() async throws {
        let home = Fixtures.temporaryDirectory("endpoint-resume")
        defer { try? FileManager.default.removeItem(at: home); Interrupt.clear() }
        let (server, port) = try await Self.inProcessServer()
        let store = try RunStore.open(workspace: home)
        let task = try EvalTask.load(path: Self.taskFile)
        let endpoint = try EndpointModel(endpoint: "http://127.0.0.1:\(port)")
        var config = EvalRunConfig(model: endpoint.model, tasks: [Self.taskFile])
        config.endpoint = endpoint.baseURL
        let first = try EvalRun.create(store: store, config: config, tasks: [task], name: "remote")
        XCTAssertEqual(first.config.tokenization, "server")
        XCTAssertNil(first.config.modelHash, "nothing here to hash")
        try await Task.detached {
            XCTAssertThrowsError(try first.run(served: InterruptingServed(endpoint, after: 4))) { error in
                XCTAssertEqual((error as? EvalInterrupted)?.storedItems, 4, "\(error)")
            }
        }.value
        Interrupt.clear()
        let resumed = try EvalRun.resume(store: store, name: "remote") { _ in task }
        XCTAssertEqual(resumed.config.endpoint, "http://127.0.0.1:\(port)/v1")
        let again = InterruptingServed(try EndpointModel(endpoint: resumed.config.endpoint!, model: resumed.config.model), after: .max)
        let results = try await Task.detached { try resumed.run(served: again) }.value
        XCTAssertEqual(results.first?.itemCount, 10)
        XCTAssertEqual(again.calls, 6, "only the items not stored are scored")
        XCTAssertEqual(try store.requireRun(named: "remote").status, .completed)
        await server.stop()
    }

    func testEvalEndpointStoresTheSameAccuracyAsLocalAndCompares() throws {
        let home = Fixtures.temporaryDirectory("endpoint-eval")
        defer { try? FileManager.default.removeItem(at: home) }
        let server = try ServerProcess()
        let local = try HayaiBinary.run(["eval", ServerProcess.tinyModel, "--tasks", Self.taskFile, "--home", home.path, "--name", "local", "--json"])
        XCTAssertEqual(local.status, 0, local.stderr)
        let remote = try HayaiBinary.run(["eval", "--endpoint", server.base, "--tasks", Self.taskFile, "--home", home.path, "--name", "remote", "--json"])
        XCTAssertEqual(remote.status, 0, remote.stderr)
        func metrics(_ out: String) throws -> [String: Double] {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], out)
            let task = try XCTUnwrap((object["tasks"] as? [[String: Any]])?.first)
            var values: [String: Double] = [:]
            for m in task["metrics"] as? [[String: Any]] ?? [] { values[m["name"] as! String] = m["value"] as? Double }
            return values
        }
        let localMetrics = try metrics(local.stdout), remoteMetrics = try metrics(remote.stdout)
        XCTAssertNotNil(localMetrics["acc"])
        XCTAssertEqual(remoteMetrics["acc"], localMetrics["acc"])
        XCTAssertEqual(remoteMetrics["acc_norm"], localMetrics["acc_norm"])
        // lm-eval's own figures for this fixture.
        let expected = try XCTUnwrap(try Fixtures.json(Self.fixture.appendingPathComponent("expected_lmeval.json")) as? [String: Any])
        let lmeval = try XCTUnwrap((expected["lm_eval_results"] as? [String: Any])?["tinymc_bilingual"] as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(remoteMetrics["acc"]), try XCTUnwrap(lmeval["acc,none"] as? Double), accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(remoteMetrics["acc_norm"]), try XCTUnwrap(lmeval["acc_norm,none"] as? Double), accuracy: 1e-9)

        let shown = try HayaiBinary.run(["runs", "show", "remote", "--home", home.path, "--json"])
        XCTAssertEqual(shown.status, 0, shown.stderr)
        XCTAssertTrue(shown.stdout.contains("127.0.0.1:\(server.port)/v1"), "the endpoint is stored: \(shown.stdout)")
        XCTAssertTrue(shown.stdout.contains("tokenization") && shown.stdout.contains("server"), shown.stdout)

        let compared = try HayaiBinary.run(["compare", "local", "remote", "--home", home.path, "--json"])
        XCTAssertEqual(compared.status, 0, compared.stderr)
        let comparison = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(compared.stdout.utf8)) as? [String: Any], compared.stdout)
        let row = try XCTUnwrap((comparison["tasks"] as? [[String: Any]])?.first)
        XCTAssertEqual(row["items"] as? Int, 10, "every item paired")
        XCTAssertEqual((row["disagreements"] as? [Any])?.count, 0, "both runs chose the same answers")

        // A server's URL as one side of a comparison is evaluated through it first.
        let direct = try HayaiBinary.run(["compare", "local", server.base, "--tasks", Self.taskFile, "--home", home.path, "--json"])
        XCTAssertEqual(direct.status, 0, direct.stderr)
        let directRow = try XCTUnwrap(((try JSONSerialization.jsonObject(with: Data(direct.stdout.utf8)) as? [String: Any])?["tasks"] as? [[String: Any]])?.first)
        XCTAssertEqual(directRow["items"] as? Int, 10)
        XCTAssertEqual((directRow["disagreements"] as? [Any])?.count, 0)

        let both = try HayaiBinary.run(["eval", ServerProcess.tinyModel, "--endpoint", server.base, "--tasks", Self.taskFile, "--home", home.path])
        XCTAssertEqual(both.status, 64, both.stderr)
        XCTAssertTrue(both.stderr.contains("either MODEL or --endpoint"), both.stderr)
        let noReuse = try HayaiBinary.run(["eval", "--endpoint", server.base, "--no-reuse", "--tasks", Self.taskFile, "--home", home.path])
        XCTAssertEqual(noReuse.status, 64)
        XCTAssertTrue(noReuse.stderr.contains("--no-reuse"), noReuse.stderr)
        let unreachable = try HayaiBinary.run(["eval", "--endpoint", "http://127.0.0.1:9", "--tasks", Self.taskFile, "--home", home.path])
        XCTAssertEqual(unreachable.status, 1)
        XCTAssertTrue(unreachable.stderr.contains("http://127.0.0.1:9/v1/models: cannot reach the endpoint"), unreachable.stderr)
        XCTAssertEqual(unreachable.stderr.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count, 1, unreachable.stderr)
    }
}
