// The named starting points of `hayai train pretrain --config NAME`. Parameter counts depend on the
// tokenizer's vocabulary; the figures below are for an 8000-entry one.
//   tiny:  hidden 96, 3 layers, 4 heads, ctx 128, tied embeddings — ≈1.1M parameters (≈0.33M outside
//          the embedding); the quickstart's model: 300 steps of 2048 tokens, about 5K tokens/s on two
//          busy cores (release), so two minutes or less.
//   small: hidden 256, 6 layers, 8 heads, ctx 256 — ≈8.9M parameters (≈4.8M outside the embeddings);
//          1500 steps of 4096 tokens at 1.2–1.9K tokens/s: most of an hour.

public enum Presets {
    public static let names = ["tiny", "small"]

    public static func named(_ name: String) -> PretrainConfig? {
        switch name {
        case "tiny": return tiny
        case "small": return small
        default: return nil
        }
    }

    public static let tiny = PretrainConfig(
        hiddenSize: 96, numLayers: 3, numHeads: 4, numKVHeads: 4, intermediateSize: 256,
        partialRotaryFactor: 0.25, ropeTheta: 10000, tieWordEmbeddings: true, parallelResidual: false, qkvBias: false,
        layerNormEps: 1e-5, initStd: 0.02,
        contextLength: 128, microBatchSize: 16, gradAccumulation: 1,
        steps: 300, minutes: nil,
        lr: 3e-3, minLR: 3e-4, warmupSteps: 30, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, gradClip: 1.0,
        evalInterval: 100, evalBatches: 4, checkpointInterval: 150, keepCheckpoints: 2, logInterval: 20, seed: 1337)

    public static let small = PretrainConfig(
        hiddenSize: 256, numLayers: 6, numHeads: 8, numKVHeads: 8, intermediateSize: 704,
        partialRotaryFactor: 0.25, ropeTheta: 10000, tieWordEmbeddings: false, parallelResidual: false, qkvBias: false,
        layerNormEps: 1e-5, initStd: 0.02,
        contextLength: 256, microBatchSize: 8, gradAccumulation: 2,
        steps: 1500, minutes: nil,
        lr: 1e-3, minLR: 1e-4, warmupSteps: 100, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, gradClip: 1.0,
        evalInterval: 100, evalBatches: 8, checkpointInterval: 250, keepCheckpoints: 2, logInterval: 10, seed: 1337)
}
