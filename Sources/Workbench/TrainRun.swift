// A pretraining run recorded in the store: the run is created (or, with --resume, the checkpoint's
// run taken over), every metric the loop reports is logged, and the outcome ends it as completed or
// interrupted (a failure as failed). `hayai train pretrain` parses, builds the PretrainRun and calls
// this; tests call it the same way.
import Foundation
import Basics
import RunStore
import Training

public final class TrainRun {
    public let training: PretrainRun
    public let recorder: RunRecorder
    public var run: Run { recorder.run }

    /// Records `training` in `store`: resuming the run its checkpoint names when it exists, else a new one.
    /// `initFrom`: the checkpoint a continued pretraining (`--init`) starts from, kept in the run's config
    /// as `init` and `init_hash` (its content hash) beside the training settings.
    public init(training: PretrainRun, store: RunStore, model: String, initFrom: InitRecord? = nil) throws {
        self.training = training
        if training.resumedFrom != nil, let name = training.state.runName, let previous = try store.run(named: name) {
            recorder = try RunRecorder.resume(store: store, run: previous)
        } else {
            guard case .object(var config)? = try? JSONValue.parse(training.config.jsonText()) else {
                throw WorkbenchError.invalid("a pretraining config must encode as a JSON object")
            }
            if let initFrom {
                config["init"] = .string(initFrom.path)
                config["init_hash"] = .string(initFrom.hash)
            }
            recorder = try RunRecorder.create(store: store, kind: .pretrain, name: training.state.runName, model: model,
                                              config: JSONValue.object(config))
        }
        training.recordRunName(recorder.run.name)
    }

    /// Runs the loop: `events` as given, with every metric also logged to the run. Ends the run.
    public func run(events: PretrainEvents = PretrainEvents()) throws -> PretrainOutcome {
        var events = events
        let report = events.metrics
        events.metrics = { [recorder] step, tokens, values in
            try recorder.log(step: step, tokens: tokens, metrics: values)
            try report(step, tokens, values)
        }
        let outcome = try recorder.recording { try training.run(events: events) }
        switch outcome {
        case .completed(let step):
            try recorder.finish(.completed, summary: ["steps": Double(step), "tokens": Double(training.state.tokensSeen)])
        case .interrupted:
            try recorder.finish(.interrupted)
        }
        return outcome
    }
}
