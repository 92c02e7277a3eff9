// Shared by the pretraining tests: a bilingual text, a tiny run config that trains in seconds in a
// debug build, and a scratch folder.
import Foundation
@testable import Training
import TestSupport

enum PretrainFixture {
    static var tokenizerFolder: String { Fixtures.fixture("stablelm-tiny").path }

    /// English and Japanese paragraphs (blank-line separated documents), varied so windows differ.
    static func text(paragraphs: Int = 40) -> String {
        let english = ["The quick brown fox jumps over the lazy dog.", "A small model learns the shape of language one token at a time.",
                       "Debian packages carry manuals, handbooks and the text of old books.", "Loss goes down when the learning rate is right."]
        let japanese = ["吾輩は猫である。名前はまだ無い。", "小さな言語モデルを手元の計算機で訓練する。",
                        "東京の空は青く、風は少し冷たかった。", "日本語と英語の文章を混ぜて学習させる。"]
        var out: [String] = []
        for i in 0..<paragraphs {
            let lines = (0..<3).map { j in j % 2 == 0 ? english[(i + j) % english.count] + " (\(i * 7 + j))" : japanese[(i * 3 + j) % japanese.count] }
            out.append(lines.joined(separator: "\n"))
        }
        return out.joined(separator: "\n\n") + "\n"
    }

    static func config(steps: Int = 8) -> PretrainConfig {
        var c = Presets.tiny
        c.hiddenSize = 32; c.numLayers = 2; c.numHeads = 4; c.numKVHeads = 2; c.intermediateSize = 48
        c.partialRotaryFactor = 0.5; c.tieWordEmbeddings = false
        c.contextLength = 32; c.microBatchSize = 3; c.gradAccumulation = 2
        c.steps = steps; c.lr = 1e-2; c.minLR = 1e-3; c.warmupSteps = 2
        c.evalInterval = 4; c.evalBatches = 2; c.checkpointInterval = 4; c.keepCheckpoints = 0; c.logInterval = 1; c.seed = 3
        return c
    }

    static func writeText(_ text: String, in dir: URL, name: String = "corpus.txt") throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    static func options(_ out: String) -> PretrainOptions {
        var o = PretrainOptions(out: out)
        o.measurePeak = false
        return o
    }
}
