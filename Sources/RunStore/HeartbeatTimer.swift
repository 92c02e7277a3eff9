// A background heartbeat for phases of a run that write nothing for a long while (loading a large
// model, a long generation), so that other processes do not take the run for dead.
import Dispatch
import Foundation

public final class HeartbeatTimer: @unchecked Sendable {
    // A DispatchSourceTimer is safe to cancel from any thread.
    private let timer: DispatchSourceTimer

    /// Refreshes `run`'s heartbeat every `interval` seconds until `cancel` or deinit. Failures (the
    /// database briefly locked past its timeout) are skipped: the next beat tries again.
    public init(store: RunStore, run: Run, every interval: TimeInterval = 60) {
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "hayai.runstore.heartbeat"))
        timer.schedule(deadline: .now() + interval, repeating: interval, leeway: .milliseconds(100))
        timer.setEventHandler { try? store.heartbeat(run: run) }
        timer.resume()
    }

    public func cancel() { timer.cancel() }

    deinit { timer.cancel() }
}
