// How a model runs on this machine, as one value: the threads (hayai's pool for quantized products
// and attention, and OpenBLAS's for Float32 ones), the context length and the KV cache's storage.
// Every command that opens a model passes the user's -t/--ctx/--kv-type here, so no option reaches
// one of them and not the other.
import Kernels

public struct RuntimeOptions: Sendable, Equatable {
    /// Threads for matrix products and attention; nil: every core.
    public var threads: Int?
    /// Positions the KV cache holds; nil: the model's, at most 4096.
    public var contextLength: Int?
    public var kvType: KVStorage

    public init(threads: Int? = nil, contextLength: Int? = nil, kvType: KVStorage = .f32) {
        self.threads = threads; self.contextLength = contextLength; self.kvType = kvType
    }

    /// The thread count in effect.
    public var resolvedThreads: Int { threads ?? ThreadPool.availableCores }

    /// Gives OpenBLAS the same thread count as the pool (OpenBLAS's setting is process-wide).
    public func applyToBLAS() { BLAS.setThreads(resolvedThreads) }
}

extension InferenceSession {
    /// A session sized and threaded as `runtime` says (BLAS threads included). Throws when the pool could
    /// not start the threads asked for (pthread_create failed): a run with fewer threads than `-t` says is not quietly accepted.
    public convenience init(model: Model, runtime: RuntimeOptions, batchSize: Int = 256) throws {
        runtime.applyToBLAS()
        self.init(model: model, contextLength: runtime.contextLength, batchSize: batchSize, threads: runtime.resolvedThreads,
                  kvType: runtime.kvType)
        if let failure = pool.startFailure { throw InferenceError.invalidSetting("-t \(runtime.resolvedThreads): \(failure)") }
    }
}
