// Ctrl-C for the whole process: one flag (Sources/CKernels/interrupt.c) that the SIGINT handler sets
// and long computations poll — the forward pass between prompt batches and between layers, the
// generation loop between tokens, the eval runner between items — so a user's Ctrl-C stops work
// within a fraction of a second and the caller decides what to keep.
import CKernels

public enum Interrupt {
    /// Whether an interrupt arrived since the last `clear()`.
    public static var isRequested: Bool { hayai_interrupt_requested() != 0 }

    public static func clear() { hayai_interrupt_clear() }

    /// Raises the flag as SIGINT would (tests, and callers that stop work for their own reasons).
    public static func request() { hayai_interrupt_set() }

    /// Routes SIGINT to the flag instead of ending the process. Without SA_RESTART, so a blocking read
    /// returns and its caller can look at the flag.
    public static func installSIGINTHandler() { _ = hayai_interrupt_install() }

    /// Throws `Interrupted` when the flag is up (it stays up: every level that unwinds may look at it).
    @inline(__always)
    public static func check() throws {
        if hayai_interrupt_requested() != 0 { throw Interrupted() }
    }
}

/// The work stopped because of an interrupt (Ctrl-C).
public struct Interrupted: Error, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "interrupted" }
}
