// The loss computed over row chunks of logits (SFT's memory saver) equals the loss over all rows held
// at once, and so do every gradient: full training with tied and untied output weights, and LoRA
// beside a frozen base. A chunk size that does not divide B·T checks the short last chunk.
import XCTest
import Basics
import Checkpoints
import Inference
@testable import Training

final class ChunkedLogitsTests: XCTestCase {
    func lossAndGradients(_ store: ParameterStore, base: DecoderWeights?, chunk: Int?, ids: [Int], labels: [Int]) throws -> (Float, [Float]) {
        let model = try TrainingModel(parameters: store, weights: base, batchSize: 2, seqLen: 7, logitChunkRows: chunk)
        store.zeroGradients()
        let loss = try model.forward(tokens: ids, labels: labels)
        model.backward()
        return (loss, Array(UnsafeBufferPointer(start: store.gradients, count: store.count)))
    }

    func testChunkedLossAndGradientsEqualTheWholeLogits() throws {
        var rng = SeededRandom(seed: 21)
        let ids = (0..<14).map { _ in Int(rng.next() % 37) }
        var labels = ids
        labels[3] = -100; labels[9] = -100
        for (label, config) in [("untied stablelm", TinyConfigs.stablelm()), ("tied llama", TinyConfigs.llama()), ("gpt_neox", TinyConfigs.gptNeoX())] {
            let store = try ParameterStore(config: config)
            randomize(store, seed: 5)
            let (wholeLoss, whole) = try lossAndGradients(store, base: nil, chunk: nil, ids: ids, labels: labels)
            for chunk in [1, 5, 14, 100] {
                let (loss, grads) = try lossAndGradients(store, base: nil, chunk: chunk, ids: ids, labels: labels)
                XCTAssertEqual(loss, wholeLoss, accuracy: 1e-5, "\(label) chunk \(chunk)")
                XCTAssertLessThan(relativeError(grads, whole), 1e-5, "\(label) chunk \(chunk): gradients")
            }
            let adapters = try ParameterStore(lora: LoRASettings(rank: 2, alpha: 4, targets: config.fusedQKV == nil ? [.q, .v, .down] : [.qkv, .down]),
                                              base: store.plan)
            randomize(adapters, seed: 6)
            let frozen = store.weights!.attaching(adapters.adapters)
            let (wholeLoRALoss, wholeLoRA) = try lossAndGradients(adapters, base: frozen, chunk: nil, ids: ids, labels: labels)
            let (loraLoss, lora) = try lossAndGradients(adapters, base: frozen, chunk: 4, ids: ids, labels: labels)
            XCTAssertEqual(loraLoss, wholeLoRALoss, accuracy: 1e-5, "\(label) LoRA")
            XCTAssertLessThan(relativeError(lora, wholeLoRA), 1e-5, "\(label) LoRA gradients")
        }
    }

    func testTheEstimateCountsTheChunk() throws {
        let config = TinyConfigs.stablelm()
        let store = try ParameterStore(config: config)
        let model = try TrainingModel(parameters: store, batchSize: 2, seqLen: 9, logitChunkRows: 4)
        XCTAssertEqual(TrainingModel.activationBytes(config: config, batchSize: 2, seqLen: 9, logitChunkRows: 4), 4 * model.activationFloats)
        XCTAssertEqual(TrainingModel.activationBytes(config: config, batchSize: 2, seqLen: 9)
                       - TrainingModel.activationBytes(config: config, batchSize: 2, seqLen: 9, logitChunkRows: 4), 4 * (18 - 4) * config.vocabSize)
    }
}
