// A checkpoint hayai writes (pretraining, SFT of a scaled base) keeps the base's RoPE scaling in
// config.json's rope_parameters, so the saved model computes what the trained one did.
import XCTest
import Checkpoints
import Inference
import Training
import TestSupport

final class RopeScalingCheckpointTests: XCTestCase {
    func testWrittenConfigKeepsTheRopeScaling() throws {
        for scaling in [RopeScaling.linear(factor: 4), .dynamicNTK(factor: 2),
                        .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 16)] {
            var config = TinyConfigs.llama(vocab: 50)
            config.ropeScaling = scaling
            let store = try ParameterStore(config: config)
            store.initialize(seed: 3)
            let folder = Fixtures.temporaryDirectory("hayai-rope-ckpt")
            defer { try? FileManager.default.removeItem(at: folder) }
            try CheckpointWriter(parameters: store).write(to: folder.path)
            XCTAssertEqual(try Model.load(path: folder.path).config.ropeScaling, scaling)
            XCTAssertEqual(try ParameterStore.load(folder: folder.path).config, config)
        }
    }
}
