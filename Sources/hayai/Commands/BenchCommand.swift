// `hayai bench`: prompt processing and generation speed, llama-bench style, with a roofline:
// generation reads every weight once per token, so its bound is the read bandwidth hayai measures
// divided by the bytes read per token (weights + KV cache at the test's mean context); prompt
// processing is arithmetic: each matrix costs its parameters at the rate of the units that multiply
// it, int8 vpdpbusd multiply-adds for interleaved quantized matrices, sgemm (2 FLOPs per parameter)
// for the rest.
import ArgumentParser
import Foundation
import Inference
import Kernels
import Workbench

extension SyntheticShape: ExpressibleByArgument {}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prompt processing (ppN) and generation (tgN) tokens/s against the machine's roofline.",
        discussion: """
            Each test runs once to warm up, then -r times; t/s is the median ± standard deviation. \
            "bound" is the most the machine allows as hayai measures it: for tg, read bandwidth (the best \
            of hayai's streaming-read probes in this run: one before the tests, one before each run) ÷ \
            bytes read per token; for pp, the arithmetic peak: matrix parameters at the int8 multiply-add rate \
            of 512-bit VNNI for matrices in the interleaved layout ("int8") and at sgemm FLOP/s ÷ 2 for \
            the others ("sgemm"). Progress goes to standard error, results to standard output (a table, \
            or a JSON array with --json).

            --synthetic NAME builds random weights of a published shape (stablelm-2-1.6b, \
            stablelm-3b-4e1t, tiny) in memory, quantized to --type, so no download is needed.

            --profile adds, per thread count, where the longest prompt's time goes: each kind of op \
            (matrix products by role, activation quantization, norms, the embedding lookup) timed on \
            its own with the model's matrices and pool, and the rest of the forward pass (attention, \
            rotary, residuals, synchronisation) as the remainder.

            --gemm (no model) times the matrix products training runs instead: hayai's f32 and bf16 GEMM \
            and OpenBLAS's sgemm, alternating, on each -t, in GFLOP/s and as a share of the f32 FMA or \
            bf16 vdpbf16ps peak measured on the same threads, and in GFLOP per second of the process's CPU \
            time (what a kernel does while it runs, on a machine shared with other work).

            --peak (no model) measures only those arithmetic peaks on each -t: the f32 FMA and bf16 \
            vdpbf16ps FLOP/s of that many threads, each running multiply-adds on registers; with --json \
            one object per thread count (scripts read the f32 peak to report MFU).
            """)

    @Argument(help: "A Hugging Face model folder or a .gguf file (or use --synthetic).")
    var model: String?

    @Option(help: "Random weights of a named shape: \(SyntheticShape.allCases.map(\.rawValue).joined(separator: ", ")).")
    var synthetic: SyntheticShape?

    @Option(name: .long, help: "Weight type for --synthetic (or to quantize MODEL in memory first).")
    var type: QuantizeTarget?

    @Option(name: [.customShort("p"), .customLong("n-prompt")], help: "Prompt lengths (comma-separated; 0 skips).")
    var prompt: String = "512"

    @Option(name: [.customShort("n"), .customLong("n-gen")], help: "Generation lengths (comma-separated; 0 skips).")
    var generate: String = "128"

    @Option(name: [.customShort("t"), .customLong("threads")], help: "Thread counts (comma-separated).")
    var threads: String = "\(ProcessInfo.processInfo.activeProcessorCount)"

    @Option(name: [.customShort("r"), .customLong("repetitions")], help: "Timed runs per test.")
    var repetitions: Int = 5

    @Option(name: .customLong("kv-type"), help: "KV cache storage: f32, f16 or q8_0.")
    var kvType: KVStorage = .f32

    @Flag(help: "Print a JSON array, one object per test.")
    var json = false

    @Flag(help: "Also print a per-op profile of prompt processing (the longest -p) for each thread count.")
    var profile = false

    @Flag(help: "Time training's matrix products (hayai f32 / bf16 GEMM vs OpenBLAS) instead of a model.")
    var gemm = false

    @Flag(help: "Measure only the f32 FMA and bf16 arithmetic peaks of -t threads (with --json: one object per -t).")
    var peak = false

    static func list(_ s: String, _ flag: String, min: Int) throws -> [Int] {
        let items = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !items.isEmpty, items.allSatisfy({ $0 != nil && $0! >= min }) else {
            throw ValidationError("\(flag) takes comma-separated integers ≥ \(min), got '\(s)'")
        }
        return items.map { $0! }
    }

    func validate() throws {
        if peak {
            guard model == nil, synthetic == nil, !profile, !gemm else { throw ValidationError("--peak takes no MODEL, --synthetic, --profile or --gemm") }
            guard repetitions >= 1 else { throw ValidationError("-r must be at least 1") }
            for t in try Self.list(threads, "-t", min: 1) { try CLI.checkThreads(t) }
            return
        }
        if gemm {
            guard model == nil, synthetic == nil, !profile, !json else { throw ValidationError("--gemm takes no MODEL, --synthetic, --profile or --json") }
            guard repetitions >= 1 else { throw ValidationError("-r must be at least 1") }
            for t in try Self.list(threads, "-t", min: 1) { try CLI.checkThreads(t) }
            return
        }
        guard (model != nil) != (synthetic != nil) else { throw ValidationError("give a MODEL or --synthetic NAME (exactly one)") }
        if synthetic != nil, type == nil { throw ValidationError("--synthetic needs --type (e.g. --type q8_0)") }
        guard repetitions >= 1 else { throw ValidationError("-r must be at least 1") }
        _ = try Self.list(prompt, "-p", min: 0); _ = try Self.list(generate, "-n", min: 0); for t in try Self.list(threads, "-t", min: 1) { try CLI.checkThreads(t) }
        if profile, json { throw ValidationError("--profile prints a table: leave out --json") }
        if profile, try Self.list(prompt, "-p", min: 0).allSatisfy({ $0 == 0 }) { throw ValidationError("--profile needs a prompt length (-p N, N > 0)") }
    }

    struct Row {
        var test: String, threads: Int, rates: [Double], bound: Double, boundKind: String
        /// pp rows: the bound were every matrix multiplied by sgemm (the float reference).
        var sgemmBound: Double?
        /// tg rows: weight and KV-cache bytes read per token.
        var bytesPerToken: Double?
        /// Per run: tokens/s ÷ (mean read bandwidth probed just before and after the run ÷ bytes per token).
        var liveRatios: [Double] = []
        var liveRatio: Double? { liveRatios.isEmpty ? nil : liveRatios.sorted()[liveRatios.count / 2] }
        var median: Double { let s = rates.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }
        var stddev: Double {
            guard rates.count > 1 else { return 0 }
            let mean = rates.reduce(0, +) / Double(rates.count)
            return (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(rates.count - 1)).squareRoot()
        }
    }

    func run() throws {
        if peak { return try runPeak() }
        if gemm { return try runGEMM() }
        let prompts = try Self.list(prompt, "-p", min: 0).filter { $0 > 0 }
        let gens = try Self.list(generate, "-n", min: 0).filter { $0 > 0 }
        let threadCounts = try Self.list(threads, "-t", min: 1)
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"

        var m: Model
        let name: String
        if let synthetic {
            CLI.printError("building synthetic \(synthetic.rawValue) (\(type!)) in memory…")
            m = try Model.synthetic(synthetic, target: type!)
            name = "synthetic \(synthetic.rawValue)"
        } else {
            m = try Model.load(path: model!)
            if let type { CLI.printError("quantizing to \(type) in memory…"); m = try m.quantized(to: type) }
            name = (model! as NSString).lastPathComponent
        }
        CLI.printError("load average: \(load)")
        let c = m.config
        // A ppN takes positions 0..<N and a tgN steps through 0..<N: N = the model's context still fits.
        for (label, n) in [("prompt", prompts.max() ?? 0), ("generation", gens.max() ?? 0)] where n > c.maxPositions {
            throw UserError("\(label) length \(n) does not fit the model's context of \(c.maxPositions)")
        }
        let weights = m.weights
        var matrices: [WeightMatrix] = [weights.embedding]
        if !c.tieWordEmbeddings { matrices.append(weights.output) }
        for l in weights.layers { for (_, x) in l.linears { matrices.append(x.weight) } }
        let size = matrices.reduce(0) { $0 + $1.byteCount }
        // The type: --type's name, else the type holding most bytes of the layers' matrices.
        var typeBytes: [String: Int] = [:]
        for x in matrices.dropFirst(c.tieWordEmbeddings ? 1 : 2) { typeBytes[x.typeName, default: 0] += x.byteCount }
        let typeLabel = type?.rawValue.uppercased() ?? typeBytes.sorted { $0.value > $1.value }.first?.key ?? "?"
        let params = c.parameterCount
        // Parameters multiplied per prompt token, split by the units that multiply them (the embedding is a lookup).
        let multiplied = matrices.dropFirst(c.tieWordEmbeddings ? 0 : 1)
        let int8Params = multiplied.filter(\.isInterleaved).reduce(0) { $0 + $1.rows * $1.cols }
        let floatParams = multiplied.filter { !$0.isInterleaved }.reduce(0) { $0 + $1.rows * $1.cols }
        let computeKind = int8Params == 0 ? "sgemm" : floatParams == 0 ? "int8" : "int8+sgemm"
        let perTokenWeights = m.weightBytes

        var rows: [Row] = []
        var profiles: [PromptProfile] = []
        var bestBandwidth: [Int: Double] = [:]
        var rng = SeededGenerator(seed: 7)
        for t in threadCounts {
            CLI.printError("measuring read bandwidth, sgemm and int8 multiply-adds with \(t) thread(s)…")
            var bandwidth = Roofline.readBandwidth(threads: t)
            let sgemm = Roofline.sgemmFLOPS(threads: t)
            let int8 = Roofline.int8MACs(threads: t)
            CLI.printError(String(format: "  read %.1f GB/s, sgemm %.0f GFLOP/s, int8 %.0f G multiply-adds/s", bandwidth / 1e9, sgemm / 1e9, (int8 ?? 0) / 1e9))
            // Seconds of arithmetic per prompt token at the peak rates.
            let computeSeconds = Double(floatParams) * 2 / sgemm + (int8.map { Double(int8Params) / $0 } ?? 0)
            BLAS.setThreads(t)
            let context = min(c.maxPositions, max((prompts.max() ?? 0), (gens.max() ?? 0)) + 1)
            let session = InferenceSession(model: m, contextLength: context, batchSize: max(prompts.max() ?? 1, 1), threads: t, kvType: kvType)
            for p in prompts {
                let tokens = (0..<p).map { _ in Int.random(in: 0..<c.vocabSize, using: &rng) }
                var rates: [Double] = []
                for rep in 0...repetitions {
                    session.reset()
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    _ = try session.forward(tokens, logits: .last)
                    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                    if rep > 0 { rates.append(Double(p) / dt) }
                    CLI.printError("  pp\(p) t=\(t) run \(rep == 0 ? "warm-up" : "\(rep)/\(repetitions)"): \(CLI.fixed(Double(p) / dt, 2)) t/s")
                }
                var row = Row(test: "pp\(p)", threads: t, rates: rates, bound: 1 / computeSeconds, boundKind: computeKind)
                row.sgemmBound = sgemm / (2 * Double(int8Params + floatParams))
                rows.append(row)
                if profile, p == prompts.max() {
                    CLI.printError("  profiling pp\(p) t=\(t)…")
                    profiles.append(try PromptProfile.measure(session: session, tokens: tokens))
                }
            }
            let probe = gens.isEmpty ? nil : Roofline.Probe(threads: t)
            for n in gens {
                var rates: [Double] = [], live: [Double] = []
                let bytesPerToken = Double(perTokenWeights + session.cache.bytesRead(positions: n / 2))
                for rep in 0...repetitions {
                    let before = probe!.measure()
                    session.reset()
                    var token = Int.random(in: 0..<c.vocabSize, using: &rng)
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<n {
                        let logits = try session.step(token)
                        token = Int(logits[0].bitPattern % UInt32(c.vocabSize))   // depends on the result, cheap
                    }
                    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                    let after = probe!.measure()
                    // The machine is shared and its bandwidth changes from second to second: a run is set
                    // against the mean of the probes around it, and the bound is the best any probe saw.
                    let bandwidthNow = (before + after) / 2
                    bandwidth = max(bandwidth, before, after)
                    bestBandwidth[t] = bandwidth
                    if rep > 0 { rates.append(Double(n) / dt); live.append(Double(n) / dt / (bandwidthNow / bytesPerToken)) }
                    CLI.printError("  tg\(n) t=\(t) run \(rep == 0 ? "warm-up" : "\(rep)/\(repetitions)"): \(CLI.fixed(Double(n) / dt, 2)) t/s"
                                   + " (read probes before/after \(CLI.fixed(before / 1e9))/\(CLI.fixed(after / 1e9)) GB/s)")
                }
                var row = Row(test: "tg\(n)", threads: t, rates: rates, bound: bandwidth / bytesPerToken, boundKind: "bandwidth")
                row.bytesPerToken = bytesPerToken
                row.liveRatios = live
                rows.append(row)
            }
        }

        // tg bounds from the best bandwidth any probe of this run saw with the row's thread count.
        for i in rows.indices { if let b = rows[i].bytesPerToken, let bw = bestBandwidth[rows[i].threads] { rows[i].bound = bw / b } }

        if json {
            let objects = rows.map { r -> String in
                var fields = [
                    "\"model\":\(JSON.string(name))", "\"type\":\(JSON.string(typeLabel))", "\"params\":\(params)", "\"bytes\":\(size)",
                    "\"threads\":\(r.threads)", "\"test\":\(JSON.string(r.test))", "\"kv_type\":\(JSON.string(kvType.rawValue))",
                    "\"tokens_per_second\":\(JSON.number(r.median))", "\"stddev\":\(JSON.number(r.stddev))",
                    "\"samples\":[\(r.rates.map { JSON.number($0) }.joined(separator: ","))]",
                ]
                if r.test.hasPrefix("tg") {
                    fields.append("\"bound_tokens_per_second\":\(JSON.number(r.bound))")
                    fields.append("\"read_bandwidth_bytes_per_second\":\(JSON.number(bestBandwidth[r.threads] ?? Roofline.readBandwidth(threads: r.threads)))")
                    fields.append("\"ratio_to_live_bound\":\(JSON.number(r.liveRatio ?? .nan))")
                } else {
                    fields.append("\"compute_bound_tokens_per_second\":\(JSON.number(r.bound))")
                    fields.append("\"compute_bound_kind\":\(JSON.string(r.boundKind))")
                    fields.append("\"sgemm_bound_tokens_per_second\":\(JSON.number(r.sgemmBound ?? .nan))")
                    fields.append("\"sgemm_flops\":\(JSON.number(Roofline.sgemmFLOPS(threads: r.threads)))")
                    if let int8 = Roofline.int8MACs(threads: r.threads) { fields.append("\"int8_multiply_adds_per_second\":\(JSON.number(int8))") }
                }
                return "{" + fields.joined(separator: ",") + "}"
            }
            print("[" + objects.joined(separator: ",\n") + "]")
            return
        }
        let header = ["model", "size", "params", "type", "threads", "test", "t/s", "bound t/s", "of bound", "of live bound"]
        var table = [header]
        for r in rows {
            table.append([name, String(format: "%.2f GiB", Double(size) / 1_073_741_824), Self.paramLabel(params), typeLabel,
                          "\(r.threads)", r.test, "\(CLI.fixed(r.median, 2)) ± \(CLI.fixed(r.stddev, 2))",
                          "\(CLI.fixed(r.bound, 2)) (\(r.boundKind))", "\(CLI.fixed(100 * r.median / r.bound, 1))%",
                          r.liveRatio.map { "\(CLI.fixed(100 * $0, 1))%" } ?? "-"])
        }
        let widths = header.indices.map { i in table.map { $0[i].count }.max()! }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { i, s in i < 4 ? s.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                                                          : String(repeating: " ", count: widths[i] - s.count) + s }.joined(separator: " | ") + " |"
        }
        print(line(header))
        print("| " + widths.enumerated().map { i, w in i < 4 ? String(repeating: "-", count: w) : String(repeating: "-", count: w - 1) + ":" }.joined(separator: " | ") + " |")
        for r in table.dropFirst() { print(line(r)) }
        let roof = threadCounts.map { t in
            String(format: "%d thread(s): read %.1f GB/s, sgemm %.0f GFLOP/s", t, (bestBandwidth[t] ?? Roofline.readBandwidth(threads: t)) / 1e9,
                   Roofline.sgemmFLOPS(threads: t) / 1e9)
                + (Roofline.int8MACs(threads: t).map { String(format: ", int8 %.0f G multiply-adds/s", $0 / 1e9) } ?? "")
        }.joined(separator: "; ")
        print("\nroofline: \(roof) (read: best of the 512 MiB probe before the tests and the 256 MiB probes around each run); \"of live bound\": median over runs of t/s ÷ (mean read bandwidth probed"
              + " just before and after the run ÷ bytes per token); KV cache \(kvType); \(CLI.fixed(Double(perTokenWeights) / 1e9, 3)) GB of weights read per token; load average at start \(load)")
        let ppRows = rows.filter { $0.test.hasPrefix("pp") && $0.sgemmBound != nil }
        if !ppRows.isEmpty, computeKind != "sgemm" {
            print("pp against sgemm alone (every matrix multiplied as floats): "
                  + ppRows.map { "\($0.test) t=\($0.threads) \(CLI.fixed(100 * $0.median / $0.sgemmBound!, 1))%" }.joined(separator: ", "))
        }
        for p in profiles { print(""); Self.printProfile(p, int8: Roofline.int8MACs(threads: p.threads)) }
    }

    /// One profile as a table: seconds, share of the forward pass and, for products, multiply-adds/s
    /// and their share of the int8 peak.
    static func printProfile(_ p: PromptProfile, int8: Double?) {
        print("profile pp\(p.tokens) t=\(p.threads): forward \(CLI.fixed(p.forwardSeconds * 1000, 1)) ms (products timed on their own, best of 3; norms and the other ops between them inside forward passes)")
        var table = [["op", "ms", "of forward", "G multiply-adds/s", "of int8 peak"]]
        func row(_ op: String, _ s: Double, _ macs: Double) {
            let rate = macs > 0 ? macs / s : 0
            table.append([op, CLI.fixed(s * 1000, 1), "\(CLI.fixed(100 * s / p.forwardSeconds, 1))%",
                          macs > 0 ? CLI.fixed(rate / 1e9, 0) : "", macs > 0 ? int8.map { "\(CLI.fixed(100 * rate / $0, 1))%" } ?? "-" : ""])
        }
        for e in p.entries { row(e.op, e.seconds, e.multiplyAdds) }
        row("rest: pool waits, imbalance, other", p.remainderSeconds, 0)
        let widths = table[0].indices.map { i in table.map { $0[i].count }.max()! }
        for (n, r) in table.enumerated() {
            print("| " + r.enumerated().map { i, s in i == 0 ? s.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                                                         : String(repeating: " ", count: widths[i] - s.count) + s }.joined(separator: " | ") + " |")
            if n == 0 { print("| " + widths.enumerated().map { i, w in i == 0 ? String(repeating: "-", count: w) : String(repeating: "-", count: w - 1) + ":" }.joined(separator: " | ") + " |") }
        }
    }

    static func paramLabel(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.2f B", Double(n) / 1e9) : n >= 1_000_000 ? String(format: "%.2f M", Double(n) / 1e6)
            : String(format: "%.2f K", Double(n) / 1e3)
    }

    /// The f32 and bf16 peaks of each -t (bf16 0 where the CPU lacks AVX512-BF16). Each is the best of -r × 10
    /// bursts of ~13 ms, so a burst another process interrupts does not count.
    func runPeak() throws {
        let (iterations, repeats) = (2_000_000, 10 * repetitions)
        var objects: [String] = []
        for t in try Self.list(threads, "-t", min: 1) {
            let f32 = GEMM.isAvailable(.f32) ? GEMMBenchmark.peak(bf16: false, threads: t, iterations: iterations, repeats: repeats) : 0
            let bf16 = GEMM.isAvailable(.bf16) ? GEMMBenchmark.peak(bf16: true, threads: t, iterations: iterations, repeats: repeats) : 0
            let method = GEMMBenchmark.peakMethod(iterations: iterations, repeats: repeats)
            if json {
                objects.append("{\"threads\":\(t),\"f32_flops\":\(JSON.number(f32)),\"bf16_flops\":\(JSON.number(bf16)),\"method\":\(JSON.string(method))}")
            } else {
                print("\(t) thread(s): f32 FMA \(CLI.fixed(f32 / 1e9, 1)) GFLOP/s, bf16 \(CLI.fixed(bf16 / 1e9, 1)) GFLOP/s (\(method))")
            }
        }
        if json { print("[" + objects.joined(separator: ",") + "]") }
    }

    func runGEMM() throws {
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?"
        CLI.printError("load average: \(load)")
        let results = GEMMBenchmark.measure(threads: try Self.list(threads, "-t", min: 1), repetitions: repetitions) { CLI.printError("  " + $0) }
        var rows = [["shape", "layout", "m×n×k", "t", "kernel", "GFLOP/s", "of peak", "vs OpenBLAS", "GFLOP/CPU-s", "vs OpenBLAS"]]
        for r in results {
            let blas = results.first { $0.shape == r.shape && $0.threads == r.threads && $0.kernel == .openBLAS }!
            rows.append([r.shape.name, r.shape.layout, "\(r.shape.m)×\(r.shape.n)×\(r.shape.k)", "\(r.threads)", r.kernel.rawValue,
                         CLI.fixed(r.gflops, 1), CLI.fixed(100 * r.shareOfPeak, 0) + "%", CLI.fixed(r.gflops / blas.gflops, 2) + "×",
                         CLI.fixed(r.gflopsPerCPUSecond, 1), CLI.fixed(r.gflopsPerCPUSecond / blas.gflopsPerCPUSecond, 2) + "×"])
        }
        print(TextTable.render(rows))
    }
}
