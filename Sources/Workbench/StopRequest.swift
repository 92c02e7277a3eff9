// Ctrl-C (and SIGTERM) while training: the first asks the loop to stop after the current step and save
// a checkpoint; a second quits at once (the last checkpoint on disk is whole either way).
//
// This is deliberately not `Kernels.Interrupt`: that flag cuts work short between layers (chat, generate,
// eval, where partial work is kept as it stands), while a training step must finish so that its
// optimizer state and checkpoint agree. The one forward polls `Interrupt`, which stays down while this is
// installed (SIGINT no longer reaches its handler).
import Foundation

public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var sources: [DispatchSourceSignal] = []
    private let notice: @Sendable (String) -> Void

    /// `notice` gets the one line said on the first Ctrl-C (standard error by default).
    public init(notice: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.notice = notice
    }

    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }

    public func install() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                lock.lock()
                let again = requested
                requested = true
                lock.unlock()
                if again { Foundation.exit(130) }
                notice("\nstopping: saving a checkpoint after this step (Ctrl-C again to quit now)")
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Gives SIGINT and SIGTERM back their default actions once training is over, so later stages
    /// (the quickstart's evals, a chat) can be stopped as usual.
    public func uninstall() {
        for source in sources { source.cancel() }
        sources.removeAll()
        for sig in [SIGINT, SIGTERM] { signal(sig, SIG_DFL) }
    }
}
