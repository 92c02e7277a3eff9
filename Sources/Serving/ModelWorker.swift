// The one model behind the server and the queue in front of it: requests run one at a time, in the
// order they arrived (a serial dispatch queue is FIFO), on a thread of their own rather than Swift's
// cooperative pool, so the HTTP side keeps accepting and streaming while the model computes. One
// InferenceSession serves them all, so a request that starts with the tokens the previous one left
// in the KV cache (a shared system prompt, lm-eval's context for every choice) computes only the rest.
import Foundation
import Inference

final class ModelWorker: @unchecked Sendable {
    let model: LocalLanguageModel
    private let queue = DispatchQueue(label: "hayai.serve.model", qos: .userInitiated)
    private let lock = NSLock()
    private var stopping = false

    init(model: LocalLanguageModel) { self.model = model }

    /// After this, queued requests are answered 503 instead of run.
    func stop() { lock.lock(); stopping = true; lock.unlock() }

    var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    /// Returns once everything queued so far has run (or been refused).
    func drain() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in queue.async { c.resume() } }
    }

    /// Runs `job` when the requests before it are done and returns its result.
    func run<T>(_ job: @escaping (LocalLanguageModel) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            enqueue { model in
                do { c.resume(returning: try job(model)) } catch { c.resume(throwing: error) }
            } refused: {
                c.resume(throwing: OpenAIError.shuttingDown)
            }
        }
    }

    /// Queues `job` without waiting for it (streamed answers report through their channel).
    func enqueue(_ job: @escaping (LocalLanguageModel) -> Void, refused: @escaping () -> Void) {
        queue.async { [self] in
            if isStopping { refused() } else { job(model) }
        }
    }
}
