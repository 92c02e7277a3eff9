// Training tokens/s and MFU of the `tiny` and `small` presets against this machine's measured f32 FMA
// peak, printed not asserted. Runs only with HAYAI_TRAIN_BENCH=1 (meant for `swift test -c release`);
// the vocabulary is 8000 (HAYAI_BENCH_VOCAB to change), the tokens random. Each step is what
// `hayai train pretrain` does per step: gradAccumulation micro-batches, clipping, AdamW.
import Basics
import XCTest
import Foundation
import Checkpoints
import Kernels
@testable import Training

final class PretrainBenchmarkTests: XCTestCase {
    /// MFU's denominator: the cores' arithmetic peak, which no matrix product can beat. It used to be a
    /// 1024³ sgemm timed once per workspace, and on a busy machine that came out at a third of the
    /// peak, so the progress line showed MFU over 100%.
    func testTheArithmeticPeakIsAtLeastWhatSgemmReaches() throws {
        try XCTSkipUnless(GEMM.isAvailable(.f32), "no AVX-512 peak loop on this CPU")
        let f32 = ModelFLOPs.measureArithmeticPeak(threads: 1, precision: .f32)
        let sgemm = BLAS.withSingleThread { ModelFLOPs.measureSgemmPeak(size: 256, repeats: 20) }
        XCTAssertGreaterThan(f32, 0.95 * sgemm, String(format: "peak %.1f < sgemm %.1f GFLOP/s", f32 / 1e9, sgemm / 1e9))
        if GEMM.isAvailable(.bf16) {
            XCTAssertGreaterThan(ModelFLOPs.measureArithmeticPeak(threads: 1, precision: .bf16), 1.5 * f32, "bf16 dot products do twice the flops")
        }
    }

    func testPrintPresetTokensPerSecondAndMFU() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["HAYAI_TRAIN_BENCH"] != nil else {
            throw XCTSkip("set HAYAI_TRAIN_BENCH=1 (and build with -c release) to measure the presets' training throughput")
        }
        let vocab = env["HAYAI_BENCH_VOCAB"].flatMap { Int($0) } ?? 8000
        let peak = ModelFLOPs.measureArithmeticPeak(threads: BLAS.threads, precision: .f32)
        print(String(format: "f32 FMA peak: %.1f GFLOP/s (BLAS threads as set)", peak / 1e9))
        for name in Presets.names {
            let config = Presets.named(name)!
            let model = config.modelConfig(vocabSize: vocab, bosTokenID: 0, eosTokenIDs: [0])
            let store = try ParameterStore(config: model)
            store.initialize(seed: 1, scaledResidualInit: true)
            let training = try TrainingModel(parameters: store, batchSize: config.microBatchSize, seqLen: config.contextLength)
            let trainer = Trainer(model: training, optimizer: AdamW(parameters: store), schedule: .constant(config.lr),
                                  maxGradientNorm: Float(config.gradClip))
            var rng = SeededRandom(seed: 2)
            func batch() -> MicroBatch { MicroBatch(tokens: (0..<config.microBatchSize * config.contextLength).map { _ in Int(rng.next() % UInt64(vocab)) }) }
            let batches = (0..<config.gradAccumulation).map { _ in batch() }
            try trainer.step(batches)   // warm-up
            let steps = name == "tiny" ? 20 : 5
            let start = Date()
            for _ in 0..<steps { try trainer.step(batches) }
            let seconds = Date().timeIntervalSince(start)
            let tokensPerSecond = Double(steps * config.tokensPerStep) / seconds
            let flops = ModelFLOPs.perToken(model, contextLength: config.contextLength)
            print(String(format: "%@: %.2fM params, %d tokens/step, %.0f tokens/s, %.1f MFLOP/token, MFU %.1f%%, %.0f ms/step",
                         name, Double(store.count) / 1e6, config.tokensPerStep, tokensPerSecond, flops / 1e6,
                         100 * flops * tokensPerSecond / peak, 1000 * seconds / Double(steps)))
        }
    }
}
