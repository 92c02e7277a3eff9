// Statistics for `hayai compare`: two runs of one task, item by item. A paired bootstrap gives a
// confidence interval for the difference in a per-item metric; McNemar's test asks whether two
// accuracies differ more than chance; `disagreements` lists the items to look at.
import Basics
import Foundation

public struct PairedBootstrap: Sendable, Equatable, Codable {
    /// mean(B) − mean(A) over the paired items.
    public var difference: Double
    public var lower: Double
    public var upper: Double
    public var confidence: Double
    public var resamples: Int
    public var seed: UInt64
    public var pairs: Int
}

public struct McNemarResult: Sendable, Equatable, Codable {
    /// Items A got right and B wrong.
    public var onlyA: Int
    /// Items B got right and A wrong.
    public var onlyB: Int
    /// Two-sided exact binomial p-value on the discordant pairs.
    public var exactP: Double
    /// χ² statistic with continuity correction, and its p-value (1 degree of freedom).
    public var chiSquare: Double
    public var chiSquareP: Double
}

public struct Disagreement: Sendable {
    public var index: Int
    public var a: ItemResult
    public var b: ItemResult
}

public enum CompareStats {
    /// Percentile bootstrap of mean(b − a) over paired values (a[i] pairs with b[i]).
    public static func pairedBootstrap(_ a: [Double], _ b: [Double], resamples: Int = 1000, confidence: Double = 0.95,
                                       seed: UInt64 = 1234) -> PairedBootstrap {
        precondition(a.count == b.count, "paired values must have the same count")
        let diffs = zip(a, b).map { $1 - $0 }
        let n = diffs.count
        let observed = Metrics.mean(diffs)
        guard n > 0, resamples > 0 else {
            return PairedBootstrap(difference: observed, lower: observed, upper: observed, confidence: confidence, resamples: 0, seed: seed, pairs: n)
        }
        var rng = SeededRandom(seed: seed)
        var means: [Double] = []
        means.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var sum = 0.0
            for _ in 0..<n { sum += diffs[Int.random(in: 0..<n, using: &rng)] }
            means.append(sum / Double(n))
        }
        means.sort()
        let alpha = (1 - confidence) / 2
        return PairedBootstrap(difference: observed, lower: quantile(means, alpha), upper: quantile(means, 1 - alpha),
                               confidence: confidence, resamples: resamples, seed: seed, pairs: n)
    }

    /// Linear-interpolated quantile of sorted values (numpy's default).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        let pos = q * Double(sorted.count - 1)
        let lo = Int(pos.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - Double(lo))
    }

    /// McNemar's test from the discordant counts.
    public static func mcnemar(onlyA: Int, onlyB: Int) -> McNemarResult {
        let n = onlyA + onlyB
        guard n > 0 else { return McNemarResult(onlyA: 0, onlyB: 0, exactP: 1, chiSquare: 0, chiSquareP: 1) }
        // Two-sided exact: 2 · P(X ≤ min(b, c)) for X ~ Binomial(n, ½), in log space for large n.
        let k = min(onlyA, onlyB)
        var tail = 0.0
        for i in 0...k { tail += exp(logChoose(n, i) - Double(n) * log(2)) }
        let exact = min(1, 2 * tail)
        let diff = max(0, Double(abs(onlyA - onlyB)) - 1)
        let chi = diff * diff / Double(n)
        return McNemarResult(onlyA: onlyA, onlyB: onlyB, exactP: exact, chiSquare: chi, chiSquareP: erfc((chi / 2).squareRoot()))
    }

    /// McNemar's test on two runs' per-item correctness (paired items only, see `pairing`).
    public static func mcnemar(_ a: [ItemResult], _ b: [ItemResult]) -> McNemarResult {
        var onlyA = 0, onlyB = 0
        for (x, y) in pairs(a, b) {
            let ca = x.correct ?? false, cb = y.correct ?? false
            if ca && !cb { onlyA += 1 } else if cb && !ca { onlyB += 1 }
        }
        return mcnemar(onlyA: onlyA, onlyB: onlyB)
    }

    /// Paired bootstrap of a per-item metric (default: the main outcome, `correct`).
    public static func pairedBootstrap(_ a: [ItemResult], _ b: [ItemResult], metric: String? = nil,
                                       resamples: Int = 1000, seed: UInt64 = 1234) -> PairedBootstrap {
        let p = pairs(a, b)
        func value(_ r: ItemResult) -> Double {
            if let metric { return r.metrics[metric] ?? 0 }
            return (r.correct ?? false) ? 1 : 0
        }
        return pairedBootstrap(p.map { value($0.0) }, p.map { value($0.1) }, resamples: resamples, seed: seed)
    }

    /// Paired items where the outcome (or, for items without one, the prediction) differs: the one
    /// rule for "A and B disagree", used by `hayai compare` and, through the stored comparison, the report.
    public static func disagreements(_ a: [ItemResult], _ b: [ItemResult]) -> [Disagreement] {
        pairs(a, b).compactMap { x, y in
            let differ = (x.correct != nil || y.correct != nil) ? x.correct != y.correct : x.prediction != y.prediction
            return differ ? Disagreement(index: x.index, a: x, b: y) : nil
        }
    }

    /// Items of two runs of one task matched as the same question: the same index and the same
    /// document (a run over another data file, or another order, does not pair by index alone).
    public struct Pairing: Sendable {
        public var pairs: [(a: ItemResult, b: ItemResult)]
        /// Items of A (of B) with no partner in B (in A).
        public var unpairedA: Int
        public var unpairedB: Int
    }

    public static func pairing(_ a: [ItemResult], _ b: [ItemResult]) -> Pairing {
        let byIndex = Dictionary(b.map { ($0.index, $0) }, uniquingKeysWith: { x, _ in x })
        let matched = a.sorted { $0.index < $1.index }.compactMap { x -> (a: ItemResult, b: ItemResult)? in
            guard let y = byIndex[x.index], y.doc == x.doc else { return nil }
            return (x, y)
        }
        return Pairing(pairs: matched, unpairedA: a.count - matched.count, unpairedB: b.count - matched.count)
    }

    /// Paired items in index order (see `pairing`).
    static func pairs(_ a: [ItemResult], _ b: [ItemResult]) -> [(ItemResult, ItemResult)] {
        pairing(a, b).pairs.map { ($0.a, $0.b) }
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double {
        lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1))
    }
}
