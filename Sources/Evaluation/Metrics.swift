// Per-item scores and their aggregation, as lm-evaluation-harness computes them (api/metrics.py),
// plus the Japanese harness's JSQuAD exact match and character F1.
import Basics
import Foundation

public enum Metrics {
    // MARK: multiple choice

    /// Index of the highest log-likelihood (first on ties, like numpy's argmax).
    public static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }

    /// acc_norm's choice: log-likelihood divided by the choice's length in Unicode code points
    /// (Python's len() of the choice string, without the target delimiter).
    public static func normalizedArgmax(_ logLikelihoods: [Double], choices: [String]) -> Int {
        argmax(zip(logLikelihoods, choices).map { $0 / Double(max($1.unicodeScalars.count, 1)) })
    }

    // MARK: aggregation

    public static func mean(_ xs: [Double]) -> Double {
        xs.isEmpty ? .nan : xs.reduce(0, +) / Double(xs.count)
    }

    /// lm-eval's mean_stderr: sample standard deviation (n − 1) over √n; nil below two items.
    public static func meanStderr(_ xs: [Double]) -> Double? {
        guard xs.count > 1 else { return nil }
        let mu = mean(xs)
        let variance = xs.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(xs.count - 1)
        return variance.squareRoot() / Double(xs.count).squareRoot()
    }

    /// The Japanese harness's balanced_mean: accuracy per gold class, averaged over classes.
    public static func balancedAccuracy(correct: [Double], gold: [Int]) -> Double {
        var byClass: [Int: [Double]] = [:]
        for (c, g) in zip(correct, gold) { byClass[g, default: []].append(c) }
        return mean(byClass.keys.sorted().map { mean(byClass[$0]!) })
    }

    /// Matthews correlation for any number of classes (scikit-learn's matthews_corrcoef).
    public static func matthewsCorrelation(gold: [Int], predicted: [Int]) -> Double {
        let labels = Array(Set(gold).union(predicted)).sorted()
        let index = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
        let k = labels.count
        var confusion = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for (g, p) in zip(gold, predicted) { confusion[index[g]!][index[p]!] += 1 }
        let t = (0..<k).map { i in confusion[i].reduce(0, +) }          // true counts per class
        let p = (0..<k).map { j in (0..<k).reduce(0) { $0 + confusion[$1][j] } }  // predicted counts
        let c = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        let s = Double(gold.count)
        let cov = c * s - zip(t, p).reduce(0) { $0 + $1.0 * $1.1 }
        let varP = s * s - p.reduce(0) { $0 + $1 * $1 }
        let varT = s * s - t.reduce(0) { $0 + $1 * $1 }
        guard varP > 0, varT > 0 else { return 0 }
        return cov / (varP * varT).squareRoot()
    }

    /// Macro-averaged F1 over the labels seen in gold or predictions (scikit-learn, zero_division=0).
    public static func macroF1(gold: [Int], predicted: [Int]) -> Double {
        let labels = Array(Set(gold).union(predicted)).sorted()
        guard !labels.isEmpty else { return .nan }
        var total = 0.0
        for label in labels {
            var tp = 0.0, fp = 0.0, fn = 0.0
            for (g, p) in zip(gold, predicted) {
                if p == label && g == label { tp += 1 } else if p == label { fp += 1 } else if g == label { fn += 1 }
            }
            total += tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
        }
        return total / Double(labels.count)
    }

    /// lm-eval's bootstrap_stderr for aggregates that are not means (it uses 100 resamples for
    /// mcc and f1): the standard deviation of the aggregate over resampled item sets.
    public static let bootstrapIterations = 100

    public static func bootstrapStderr(count: Int, iterations: Int = bootstrapIterations, seed: UInt64 = 1234,
                                       aggregate: ([Int]) -> Double) -> Double? {
        guard count > 1, iterations > 1 else { return nil }
        var rng = SeededRandom(seed: seed)
        var values: [Double] = []
        for _ in 0..<iterations {
            let sample = (0..<count).map { _ in Int.random(in: 0..<count, using: &rng) }
            values.append(aggregate(sample))
        }
        let mu = mean(values)
        return (values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(values.count - 1)).squareRoot()
    }

    // MARK: perplexity

    /// lm-eval's word count: pieces of re.split(r"\s+", text) (leading/trailing space adds an empty piece).
    public static func wordCount(_ text: String) -> Int {
        var count = 1, inSpace = false
        for scalar in text.unicodeScalars {
            let space = scalar.properties.isWhitespace
            if space && !inSpace { count += 1 }
            inSpace = space
        }
        return count
    }

    /// exp(−Σ loglikelihood / Σ units): word or byte perplexity.
    public static func weightedPerplexity(logLikelihoods: [Double], units: [Int]) -> Double {
        exp(-logLikelihoods.reduce(0, +) / Double(units.reduce(0, +)))
    }

    /// −Σ loglikelihood / Σ bytes / ln 2.
    public static func bitsPerByte(logLikelihoods: [Double], bytes: [Int]) -> Double {
        -logLikelihoods.reduce(0, +) / Double(bytes.reduce(0, +)) / log(2)
    }

    // MARK: generation

    /// lm-eval's exact_match (Hugging Face evaluate): optional regex removal, case and punctuation folding.
    public static func exactMatch(_ prediction: String, _ reference: String, ignoreCase: Bool = false,
                                  ignorePunctuation: Bool = false, regexesToIgnore: [String] = []) -> Bool {
        func clean(_ s: String) -> String {
            var s = s
            for r in regexesToIgnore { s = s.replacingOccurrences(of: r, with: "", options: .regularExpression) }
            if ignoreCase { s = s.lowercased() }
            if ignorePunctuation { s = String(s.unicodeScalars.filter { !asciiPunctuation.contains($0) }.map(Character.init)) }
            return s
        }
        return clean(prediction) == clean(reference)
    }

    static let asciiPunctuation = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars)
    static let japanesePunctuation = Set("！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.".unicodeScalars)

    /// The JSQuAD answer normalization: emoji removed, NFKC (standing in for neologdn), whitespace collapsed.
    public static func normalizeJapaneseAnswer(_ s: String) -> String {
        let noEmoji = String(String.UnicodeScalarView(s.unicodeScalars.filter { !isEmoji($0) }))
        let nfkc = noEmoji.precomposedStringWithCompatibilityMapping
        return nfkc.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    static func isEmoji(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return (0x1F600...0x1F64F).contains(v) || (0x1F300...0x1F5FF).contains(v) || (0x1F680...0x1F6FF).contains(v)
            || (0x1F1E0...0x1F1FF).contains(v) || (0x2702...0x27B0).contains(v) || (0x1F900...0x1F9FF).contains(v)
            || (u.properties.isEmojiPresentation && v > 0xFF)
    }

    /// JSQuAD exact match after normalization.
    public static func jsquadExactMatch(_ prediction: String, _ reference: String) -> Bool {
        normalizeJapaneseAnswer(prediction) == normalizeJapaneseAnswer(reference)
    }

    /// JSQuAD character F1: the SQuAD F1 over the characters of the normalized answers, without
    /// spaces and punctuation (JGLUE's official metric; the JP harness splits with MeCab instead).
    public static func jsquadCharF1(_ prediction: String, _ reference: String) -> Double {
        func chars(_ s: String) -> [Character] {
            normalizeJapaneseAnswer(s).filter { c in
                !c.isWhitespace && !(c.unicodeScalars.count == 1 && (asciiPunctuation.contains(c.unicodeScalars.first!) || japanesePunctuation.contains(c.unicodeScalars.first!)))
            }
        }
        let p = chars(prediction), r = chars(reference)
        var counts: [Character: Int] = [:]
        for c in r { counts[c, default: 0] += 1 }
        var same = 0
        for c in p where (counts[c] ?? 0) > 0 { counts[c]! -= 1; same += 1 }
        guard same > 0 else { return 0 }
        let precision = Double(same) / Double(p.count), recall = Double(same) / Double(r.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// The last number in `text` (commas dropped), for numeric exact match.
    public static func lastNumber(in text: String) -> Double? {
        let pattern = try! NSRegularExpression(pattern: #"-?[0-9][0-9,]*(?:\.[0-9]+)?"#)
        let ns = text as NSString
        guard let m = pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)).last else { return nil }
        return Double(ns.substring(with: m.range).replacingOccurrences(of: ",", with: ""))
    }

    /// Whether the prediction's last number equals the reference's number.
    public static func numericMatch(_ prediction: String, _ reference: String) -> Bool {
        guard let p = lastNumber(in: prediction), let r = lastNumber(in: reference) else { return false }
        return abs(p - r) <= 1e-9 * max(1, abs(r))
    }
}
