// `hayai bench --profile`'s table (PromptProfile): the products timed by role as the forward runs them
// (q, k, v in one job), and the ops between them timed inside the forward pass, so the remainder is
// only what no op explains.
import XCTest
import Checkpoints
import Kernels
@testable import Inference

final class PromptProfileTests: XCTestCase {
    func testProfileTimesTheOpsBetweenTheProductsInsideTheForward() throws {
        let config = ModelConfig(
            architecture: .stablelm, vocabSize: 512, hiddenSize: 256, intermediateSize: 768, numLayers: 2, numHeads: 4, numKVHeads: 2,
            maxPositions: 128, norm: .rmsNorm, normEps: 1e-5, rotaryDim: 64, ropeTheta: 10000, parallelResidual: false, qkvBias: false,
            outputBias: false, mlpBias: false, qkNorm: false, mlp: .gatedSiLU, tieWordEmbeddings: false)
        let model = try Model.synthetic(config: config, target: .q8_0, seed: 5)
        let session = InferenceSession(model: model, threads: 2)
        let ids = (0..<96).map { ($0 * 31 + 7) % config.vocabSize }
        let profile = try PromptProfile.measure(session: session, tokens: ids, repetitions: 1)
        func entry(_ name: String) throws -> PromptProfile.Entry { try XCTUnwrap(profile.entries.first { $0.op.hasPrefix(name) }, name) }
        XCTAssertEqual(profile.tokens, 96)
        XCTAssertEqual(profile.threads, 2)
        // q (256 rows), k and v (128 each) of every layer, 96 tokens of 256 inputs.
        XCTAssertEqual(try entry("matrices: attention q, k, v").multiplyAdds, Double(2 * 96 * (256 + 128 + 128) * 256))
        for name in ["norms", "attention: q·k, softmax", "rotary", "residual adds", "mlp activation"] {
            let e = try entry(name)
            XCTAssertGreaterThan(e.seconds, 0, name)
            XCTAssertLessThan(e.seconds, 10 * profile.forwardSeconds, name)
            XCTAssertFalse(e.included, name)
        }
        XCTAssertEqual(profile.remainderSeconds, profile.forwardSeconds - profile.entries.filter { !$0.included }.reduce(0) { $0 + $1.seconds },
                       accuracy: 1e-12)
        // Profiling leaves the session as it was: no profile attached, nothing cached.
        XCTAssertNil(session.profile)
        XCTAssertEqual(session.position, 0)
    }
}
