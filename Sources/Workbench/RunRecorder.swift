// A run's life in the store, in one place for every kind (pretrain, sft, eval, compare): created with
// its config (plus the hayai build that made it), or resumed; metrics logged; then finished as
// completed, interrupted (Ctrl-C, or a stop the user asked for) or failed. Commands and train/eval
// runs go through this instead of calling the store's create/resume/finish themselves.
import Foundation
import Kernels
import RunStore

public final class RunRecorder {
    public let store: RunStore
    public private(set) var run: Run
    /// Refreshes the run's heartbeat while it runs, so `runs list` tells it from a dead process.
    private var heartbeatTimer: HeartbeatTimer?

    init(store: RunStore, run: Run) {
        self.store = store
        self.run = run
        heartbeatTimer = HeartbeatTimer(store: store, run: run, every: 30)
    }

    deinit { heartbeatTimer?.cancel() }

    /// A new run whose config is already JSON text (an object); the build is added as for `create`.
    public static func create(store: RunStore, kind: RunKind, name: String?, model: String?, configJSON: String,
                              parent: String? = nil) throws -> RunRecorder {
        guard let object = try? JSONValue.parse(configJSON) else { throw WorkbenchError.invalid("a run config must be JSON text") }
        return try create(store: store, kind: kind, name: name, model: model, config: object, parent: parent)
    }

    /// A new run. `config` is stored as a JSON object with a `hayai` key added: the version, git
    /// revision and build settings that produced the run.
    public static func create<Config: Encodable>(store: RunStore, kind: RunKind, name: String?, model: String?, config: Config,
                                                 parent: String? = nil) throws -> RunRecorder {
        let run = try store.createRun(kind: kind, name: name, model: model, config: try withBuild(config), parent: parent)
        return RunRecorder(store: store, run: run)
    }

    /// An existing run of `kind`, taken over by this process (running again).
    public static func resume(store: RunStore, name: String, kind: RunKind) throws -> RunRecorder {
        let run = try store.requireRun(named: name)
        guard run.kind == kind else { throw WorkbenchError.wrongKind(run: name, kind: run.kind.rawValue, expected: kind.rawValue) }
        return RunRecorder(store: store, run: try store.resume(run: run))
    }

    /// Takes over `run` (already looked up and checked by the caller).
    public static func resume(store: RunStore, run: Run) throws -> RunRecorder {
        RunRecorder(store: store, run: try store.resume(run: run))
    }

    /// Points whose write failed (a full disk), kept in order and written before the next ones.
    public private(set) var pendingMetrics: [(step: Int, tokens: Int?, metrics: [String: Double])] = []

    /// Logs one step's metrics after any left pending. When the store cannot take them (RunStoreError.cannotWrite:
    /// "no space left on the device") they stay pending, retried on the next log and at `finish`, and the error
    /// goes to the caller, which decides whether to go on (a training run saves a checkpoint and goes on).
    public func log(step: Int, tokens: Int? = nil, metrics: [String: Double]) throws {
        pendingMetrics.append((step, tokens, metrics))
        try writePendingMetrics()
    }

    private func writePendingMetrics() throws {
        while let first = pendingMetrics.first {
            try store.log(run: run, step: first.step, tokens: first.tokens, metrics: first.metrics)
            pendingMetrics.removeFirst()
        }
    }

    public func heartbeat() throws { try store.heartbeat(run: run) }

    @discardableResult
    public func finish(_ status: RunStatus = .completed, summary: [String: Double] = [:]) throws -> Run {
        heartbeatTimer?.cancel()
        heartbeatTimer = nil
        try writePendingMetrics()
        run = try store.finish(run: run, status: status, summary: summary)
        return run
    }

    /// Runs `body`; when it throws, the run ends as interrupted (for `Interrupted`) or failed, and the
    /// error goes on to the caller. The caller finishes a run that succeeds (it knows the summary).
    public func recording<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            _ = try? finish(error is Interrupted ? .interrupted : .failed)
            throw error
        }
    }

    /// `config` as a JSON object with the build added under "hayai".
    static func withBuild<Config: Encodable>(_ config: Config) throws -> String {
        let encoder = JSONEncoder.sorted
        guard case .object(var object)? = try? JSONValue.parse(String(decoding: try encoder.encode(config), as: UTF8.self)) else {
            throw WorkbenchError.invalid("a run config must encode as a JSON object")
        }
        if object["hayai"] == nil {
            object["hayai"] = try JSONValue.parse(String(decoding: try encoder.encode(BuildInfo.current), as: UTF8.self))
        }
        return JSONValue.object(object).jsonText
    }
}

extension JSONEncoder {
    /// Keys sorted, slashes unescaped, non-finite numbers as strings: the store's and `--json`'s encoder.
    public static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }
}
