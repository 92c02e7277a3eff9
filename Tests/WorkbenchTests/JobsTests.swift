// Pretraining, fine-tuning and the quickstart's stages as library calls (what `hayai train`, `hayai
// train sft` and `hayai quickstart` call): runs recorded with what they started from, the SFT time
// budget re-planned so the schedule decays to the end, and the LoRA quickstart chained without the CLI.
import XCTest
import Foundation
import Kernels
import RunStore
import Training
import TestSupport
@testable import Workbench

final class JobsTests: XCTestCase {
    var home: URL!
    override func setUp() { home = Fixtures.temporaryDirectory("hayai-jobs") }
    override func tearDown() { try? FileManager.default.removeItem(at: home) }

    static let instructions = Fixtures.repoRoot.appendingPathComponent("data/sft/hayai-instruct-bilingual.jsonl").path

    /// SFT of the tiny model's copy on the bundled instructions in small rows (2 × 128 tokens).
    func smallSFT(workspace: URL? = nil) throws -> SFTRequest {
        var request = SFTRequest(base: try modelCopy(), workspace: workspace ?? home)
        request.data = [Self.instructions]
        request.config.microBatchSize = 2
        request.config.contextLength = 128
        return request
    }

    func modelCopy() throws -> String {
        let copy = home.appendingPathComponent("model")
        try FileManager.default.copyItem(at: Fixtures.fixture("stablelm-tiny"), to: copy)
        return copy.path
    }

    func testSFTJobTrainsRecordsItsBaseAndSavesTheTemplate() throws {
        var request = try smallSFT()
        let base = request.base
        request.config.steps = 2
        request.out = home.appendingPathComponent("instruct").path
        request.name = "sft-direct"
        let job = try SFTJob(request)
        XCTAssertGreaterThan(job.examples, 10)
        var steps: [Int] = []
        var events = SFTEvents()
        events.stepped = { steps.append($0.step) }
        let outcome = try job.run(events: events)
        XCTAssertEqual(steps, [1, 2])
        XCTAssertEqual(outcome.run.status, .completed)
        let store = try RunStore.open(workspace: home)
        let run = try store.requireRun(named: "sft-direct")
        XCTAssertEqual(run.kind, .sft)
        XCTAssertEqual(run.configValues["base_hash"], .string(try ModelIdentity.contentHash(path: base)))
        XCTAssertEqual(try store.metrics(run: run).filter { $0.name == "train/loss" }.count, 2)
        let config = try XCTUnwrap(try Fixtures.json(URL(fileURLWithPath: outcome.out).appendingPathComponent("tokenizer_config.json")) as? [String: Any])
        XCTAssertTrue((config["chat_template"] as? String ?? "").contains("### 指示"), "the jslm-instruct format travels with the model")
    }

    /// SFT's precision reaches the matmuls (bf16 losses differ from f32's, slightly) and the run's config.
    func testSFTPrecisionIsAppliedAndRecorded() throws {
        try XCTSkipUnless(GEMM.isAvailable(.bf16), "this CPU has no AVX512-BF16")
        var losses: [GEMMPrecision: [Float]] = [:]
        var request = try smallSFT()
        request.config.steps = 3
        for precision in GEMMPrecision.allCases {
            request.config.precision = precision
            request.name = "sft-\(precision.rawValue)"
            var events = SFTEvents()
            events.stepped = { losses[precision, default: []].append($0.loss) }
            let outcome = try SFTJob(request).run(events: events)
            XCTAssertEqual(outcome.run.configValues["precision"], .string(precision.rawValue))
            XCTAssertEqual(BLAS.precision, .f32, "the run restores BLAS's precision")
        }
        let f32 = try XCTUnwrap(losses[.f32]), bf16 = try XCTUnwrap(losses[.bf16])
        XCTAssertEqual(f32.count, 3)
        XCTAssertNotEqual(f32, bf16, "bf16 changed nothing")
        for (a, b) in zip(f32, bf16) { XCTAssertEqual(b, a, accuracy: 0.03 * a) }
    }

    /// Without --out the result goes to WORKSPACE/checkpoints/RUN, made when the workspace is new (it
    /// was found missing after training); an --out whose folder does not exist is refused before training.
    func testSFTWritesIntoANewWorkspaceAndRefusesAMissingOutFolderFirst() throws {
        var request = try smallSFT(workspace: home.appendingPathComponent("fresh"))
        request.config.steps = 1
        request.name = "first"
        let outcome = try SFTJob(request).run()
        XCTAssertEqual(outcome.out, home.appendingPathComponent("fresh/checkpoints/first").path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: outcome.out + "/config.json"))

        request.name = "second"
        request.out = home.appendingPathComponent("no/such/folder/out").path
        var steps = 0
        var events = SFTEvents()
        events.stepped = { _ in steps += 1 }
        XCTAssertThrowsError(try SFTJob(request).run(events: events)) { XCTAssertTrue("\($0)".contains("does not exist"), "\($0)") }
        XCTAssertEqual(steps, 0, "refused before training")
    }

    /// Data larger than one window is read a window at a time, and what the job says of it says so:
    /// its example count is the first window's, in the summary and in the stored run.
    func testStreamedDataIsReportedAsTheFirstWindow() throws {
        var request = try smallSFT()
        request.config.steps = 1
        request.windowTokens = 4000
        request.name = "windowed"
        let job = try SFTJob(request)
        XCTAssertTrue(job.training.isStreamed)
        XCTAssertTrue(job.summary[0].contains("examples in the first window"), job.summary[0])
        let run = try job.run().run
        XCTAssertEqual(run.configValues["streamed"], .string("true (examples counts the first window)"))

        request.windowTokens = SFTRun.windowTokens
        request.name = "whole"
        let whole = try SFTJob(request)
        XCTAssertFalse(whole.training.isStreamed)
        XCTAssertFalse(whole.summary[0].contains("window"), whole.summary[0])
        XCTAssertGreaterThan(whole.examples, job.examples)
    }

    func testAnSFTJobNeedsDataAndLoRASettingsNeedARank() throws {
        var request = try smallSFT()
        XCTAssertThrowsError(try SFTJob(SFTRequest(base: request.base, workspace: home))) { XCTAssertTrue("\($0)".contains("give instruction data"), "\($0)") }
        request.loraAlpha = 16
        XCTAssertThrowsError(try SFTJob(request)) { XCTAssertEqual("\($0)", "--lora-alpha needs --lora-rank") }
    }

    /// With a time budget the step count is planned from the measured pace and the learning rate decays
    /// to it: the last steps run near the bottom of the schedule, not at the peak of a plan for 1,000 epochs.
    func testAnSFTTimeBudgetReplansTheScheduleToDecayByTheEnd() throws {
        var request = try smallSFT()
        request.config.epochs = 1000
        request.config.warmupSteps = 1
        request.config.timeLimitSeconds = 4
        request.out = home.appendingPathComponent("budget").path
        let job = try SFTJob(request)
        var last: SFTProgress?
        var events = SFTEvents()
        events.stepped = { last = $0 }
        let outcome = try job.run(events: events)
        let end = try XCTUnwrap(last)
        XCTAssertGreaterThan(outcome.steps, 3)
        XCTAssertLessThan(end.plannedSteps, job.training.plannedSteps, "re-planned from the budget")
        let maxLR = request.config.lr, minLR = request.config.minLR
        XCTAssertLessThan(end.learningRate, minLR + 0.5 * (maxLR - minLR),
                          "step \(end.step) of \(end.plannedSteps) ran at lr \(end.learningRate): the schedule did not decay toward the budget's end")
    }

    func testReplannedStepsFollowThePaceWithinThePlan() {
        XCTAssertEqual(LearningRateSchedule.replannedSteps(planned: 1000, step: 10, elapsed: 10, budget: 60), 60)
        XCTAssertEqual(LearningRateSchedule.replannedSteps(planned: 30, step: 10, elapsed: 10, budget: 60), 30, "never past the data plan")
        XCTAssertEqual(LearningRateSchedule.replannedSteps(planned: 1000, step: 10, elapsed: 70, budget: 60), 11, "over budget: one more step at most")
    }

    func testContinuedPretrainingRecordsItsInitCheckpointInTheRun() throws {
        let text = home.appendingPathComponent("corpus.txt")
        try (0..<60).map { "Paragraph \($0): a small model learns the shape of language. 小さな言語モデル \($0)。" }
            .joined(separator: "\n\n").write(to: text, atomically: true, encoding: .utf8)
        let config = home.appendingPathComponent("pretrain.json")
        try Data(#"{"preset": "tiny", "context_length": 32, "micro_batch_size": 2, "steps": 2, "eval_interval": 2, "checkpoint_interval": 2, "warmup_steps": 1}"#.utf8)
            .write(to: config)
        let base = try modelCopy()
        var request = PretrainRequest(workspace: home)
        request.config = config.path
        request.text = text.path
        request.initModel = base
        request.name = "continued"
        let job = try PretrainJob(request)
        XCTAssertEqual(try job.run(), .completed(step: 2))
        let run = try RunStore.open(workspace: home).requireRun(named: "continued")
        XCTAssertEqual(run.status, .completed)
        XCTAssertEqual(run.configValues["init"], .string(base))
        XCTAssertEqual(run.configValues["init_hash"], .string(try ModelIdentity.contentHash(path: base)))
    }

    /// The real-model track's stages (LoRA SFT, two evals, the stored comparison, the report) run as
    /// library calls: no command line is parsed on the way.
    func testTheLoRAQuickstartChainsItsStagesThroughTheLibrary() throws {
        let model = try modelCopy()
        var request = QuickstartRequest(workspace: home)
        request.minutes = 0.5
        request.sftSteps = 2
        request.evalLimit = 4
        var said: [String] = []
        request.say = { said.append($0) }
        let track = QuickstartLoRA(model: model, loraRank: 4, request: request)
        let chat = try track.run()
        XCTAssertEqual(chat, ["--compare", model, model, "--adapter", track.adapter])
        XCTAssertTrue(FileManager.default.fileExists(atPath: track.adapter + "/adapter_config.json"))
        let store = try RunStore.open(workspace: home)
        let runs = try store.runs(limit: 50)
        XCTAssertEqual(runs.filter { $0.kind == .sft && $0.status == .completed }.count, 1)
        XCTAssertEqual(runs.filter { $0.kind == .eval && $0.status == .completed }.count, 2)
        XCTAssertEqual(runs.filter { $0.kind == .compare }.count, 1)
        XCTAssertTrue(said.contains { $0.hasPrefix("\n== 4/4 report") }, said.joined(separator: "\n"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: track.folder.appendingPathComponent("report.html").path))
    }

    /// The real-model track packs rows long enough for a JCommonsenseQA training item in SmolLM2's
    /// tokenizer (~1.5-2 tokens a Japanese character): in the 256-token rows it used before, 1,120 of
    /// 2,375 examples lost their answer and trained nothing.
    func testTheLoRAQuickstartKeepsJCommonsenseQAAnswersInItsRows() throws {
        let smol: String
        do { smol = try SmolLM2.ggufPath().path } catch let e as SmolLM2.FetchError {
            if case .registryUnreachable = e { throw XCTSkip(e.description) }
            throw e
        }
        let train = Fixtures.data("jglue/jcommonsenseqa/train-v1.3.json").path
        guard FileManager.default.fileExists(atPath: train) else { throw XCTSkip("no JGLUE under \(Fixtures.shared.path)") }
        var request = QuickstartRequest(workspace: home)
        request.say = { _ in }
        var sft = try QuickstartLoRA(model: smol, loraRank: 4, request: request).sftRequest(name: "rows")
        sft.jcommonsenseqa = train
        sft.jcommonsenseqaLimit = 300
        let report = try SFTJob(sft).training.report
        XCTAssertGreaterThan(report.examples, 300)
        XCTAssertLessThan(Double(report.skipped), 0.02 * Double(report.examples),
                          "\(report.skipped) of \(report.examples) examples have no response left in their row")
    }
}
