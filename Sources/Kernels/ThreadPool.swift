// A pool of persistent worker threads for the kernels: `parallelFor` gives the caller's thread and each
// worker a contiguous share of the indices 0..<count (so consecutive jobs over the same rows keep each
// row on one core) and an atomic counter per share, from which a thread that has finished its own takes
// the others' indices, so uneven chunks and a core taken by another process balance themselves. Idle
// workers spin briefly (the next matrix-vector product usually follows within microseconds), then
// block on a condition variable: with two cores shared with other work, pools that only spin collapse
// (10–30× slower, measured on a 2-vCPU VM).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CKernels

public final class ThreadPool: @unchecked Sendable {
    /// Threads that run a `parallelFor`, the caller's included.
    public let threads: Int
    private let state: PoolState
    private var workers: [pthread_t] = []

    /// The most threads a pool runs: 4 × the cores (more only adds switching; -t 100000 once
    /// exhausted the process's threads). The CLI refuses larger `-t` values; a pool asked for more gets this many.
    public static var threadLimit: Int { 4 * availableCores }

    /// Why some workers did not start (pthread_create failed), nil when all did; the pool then runs
    /// with the threads it has (`threads`), and callers that can report it do (LocalLanguageModel throws).
    public private(set) var startFailure: String?

    /// A pool with `threads` threads in all (the caller counts as one, so `threads - 1` workers start;
    /// at most `threadLimit`). `threads == 1` starts none and runs every `parallelFor` inline. Idle
    /// workers spin for `spinMicroseconds` before blocking.
    public convenience init(threads: Int, spinMicroseconds: Int = 100) {
        self.init(threads: threads, spinMicroseconds: spinMicroseconds, createThread: { tid, context, start in
            pthread_create(tid, nil, start, context)
        })
    }

    typealias ThreadStart = @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer?

    /// `createThread` is pthread_create, or a stand-in that fails (tests).
    init(threads requested: Int, spinMicroseconds: Int,
         createThread: (UnsafeMutablePointer<pthread_t>, UnsafeMutableRawPointer, ThreadStart) -> Int32) {
        let wanted = min(max(requested, 1), Self.threadLimit)
        state = PoolState(workers: wanted - 1, spinNanoseconds: UInt64(max(0, spinMicroseconds)) * 1000)
        for i in 1..<max(wanted, 1) {
            var tid = pthread_t()
            let context = Unmanaged.passRetained(state).toOpaque()
            let rc = createThread(&tid, context, { raw in
                let state = Unmanaged<PoolState>.fromOpaque(raw!).takeRetainedValue()
                state.workerLoop()
                return nil
            })
            // A real check, not a precondition: Kernels is built with -Ounchecked, which removes those.
            guard rc == 0 else {
                Unmanaged<PoolState>.fromOpaque(context).release()
                startFailure = "cannot start thread \(i + 1) of \(wanted) (pthread_create: \(String(cString: strerror(rc)))); running with \(i)"
                break
            }
            workers.append(tid)
        }
        threads = workers.count + 1
        state.participants = threads
    }

    /// Processor cores available to this process.
    public static var availableCores: Int {
        max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    deinit {
        state.shutdown()
        for tid in workers { pthread_join(tid, nil) }
    }

    /// Calls `body(i)` once for every i in 0..<count, spread over the pool's threads; returns when
    /// all calls have returned. Calls run concurrently, in no particular order (each thread starts at the
    /// beginning of its share, thread k of n at count·k/n, the caller being 0). A nested call (from
    /// inside `body`) or a call while another thread is using the pool runs inline on its caller.
    public func parallelFor(count: Int, body: (Int) -> Void) {
        if threads == 1 || count <= 1 || !state.tryAcquire() {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            state.run(count: count, body: body)
        }
        state.release()
    }
}

/// The state shared by the pool and its workers (the workers keep it alive, not the pool, so the
/// pool's deinit can stop them).
///
/// A job is finished when all its indices are done, not when every worker has seen it: with another
/// process on the second core a worker may wake a whole time slice late, and the caller should not
/// wait for it when it has already done the work itself. A worker therefore joins a job only while it
/// is open (`active` += 1, then check `open`); the caller closes it (`open` = 0, then wait for
/// `active` == 0) before the job's closure goes out of scope. Sequentially consistent atomics make
/// that handshake safe: either the worker sees the job closed, or the caller sees the worker inside.
private final class PoolState: @unchecked Sendable {
    private enum Slot: Int, CaseIterable { case generation, done, open, active, sleepers, callerWaiting, stop, busy, workerIDs }
    /// Each slot on a cache line of its own (8 Ints apart), and each thread's share (below) too: the counters
    /// that every index updates would otherwise pull the line that idle workers spin on (`generation`) away
    /// from them, and back.
    private static let slotStride = 8
    private let atomics: UnsafeMutablePointer<Int>
    /// Per thread (the caller is 0, workers 1...): its share of the open job's indices, [next, end) at
    /// shares[k · slotStride] and shares[k · slotStride + 1]. A thread takes indices from its own share
    /// first, then from the others'; `next` is atomic, `end` written while the job is closed.
    private let shares: UnsafeMutablePointer<Int>
    /// Threads that take part in a job (the caller and the workers that started); set before the first job.
    var participants = 1
    private let maxParticipants: Int
    private let spinNanoseconds: UInt64
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let workCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let doneCond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // The open job: written while `open` is 0 and no worker is inside, read by workers inside it.
    private let job = UnsafeMutablePointer<((Int) -> Void)?>.allocate(capacity: 1)
    private var jobCount = 0

    init(workers: Int, spinNanoseconds: UInt64) {
        self.spinNanoseconds = spinNanoseconds
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Slot.allCases.count * Self.slotStride * MemoryLayout<Int>.stride, alignment: 64)
        atomics = raw.bindMemory(to: Int.self, capacity: Slot.allCases.count * Self.slotStride)
        atomics.initialize(repeating: 0, count: Slot.allCases.count * Self.slotStride)
        maxParticipants = workers + 1
        shares = UnsafeMutableRawPointer.allocate(byteCount: maxParticipants * Self.slotStride * MemoryLayout<Int>.stride, alignment: 64)
            .bindMemory(to: Int.self, capacity: maxParticipants * Self.slotStride)
        shares.initialize(repeating: 0, count: maxParticipants * Self.slotStride)
        job.initialize(to: nil)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(workCond, nil)
        pthread_cond_init(doneCond, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex); pthread_cond_destroy(workCond); pthread_cond_destroy(doneCond)
        mutex.deallocate(); workCond.deallocate(); doneCond.deallocate()
        job.deinitialize(count: 1); job.deallocate()
        UnsafeMutableRawPointer(atomics).deallocate()
        UnsafeMutableRawPointer(shares).deallocate()
    }

    @inline(__always) private func ptr(_ s: Slot) -> UnsafeMutablePointer<Int> { atomics + s.rawValue * Self.slotStride }
    @inline(__always) private func load(_ s: Slot) -> Int { hayai_atomic_load(ptr(s)) }
    @inline(__always) private func store(_ s: Slot, _ v: Int) { hayai_atomic_store(ptr(s), v) }
    @inline(__always) @discardableResult private func add(_ s: Slot, _ v: Int) -> Int { hayai_atomic_fetch_add(ptr(s), v) }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Spins until `done()` or the spin budget runs out; returns whether `done()` became true.
    @inline(__always) private func spin(until done: () -> Bool) -> Bool {
        if done() { return true }
        let start = PoolState.now()
        while true {
            for _ in 0..<64 {
                hayai_cpu_relax()
                if done() { return true }
            }
            if PoolState.now() - start > spinNanoseconds { return done() }
        }
    }

    func tryAcquire() -> Bool {
        if add(.busy, 1) == 0 { return true }
        add(.busy, -1)
        return false
    }

    func release() { add(.busy, -1) }

    /// Publishes a job, works on it from the calling thread, returns when every index is done and no
    /// worker is inside the job any more.
    func run(count: Int, body: @escaping (Int) -> Void) {
        job.pointee = body
        jobCount = count
        // Contiguous shares: thread k starts at count·k/threads. Jobs that split the same rows the same way
        // (a norm, then the quantization of its output, then the products' token blocks) so give each
        // thread the rows it wrote itself, from its own cache, unless it had to take over the other's.
        let threads = participants
        for k in 0..<threads {
            hayai_atomic_store(shares + k * Self.slotStride, count * k / threads)
            shares[k * Self.slotStride + 1] = count * (k + 1) / threads
        }
        store(.done, 0)
        store(.open, 1)
        add(.generation, 1)
        if load(.sleepers) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(workCond)
            pthread_mutex_unlock(mutex)
        }
        work(body, count, thread: 0)
        if !spin(until: { load(.done) == count }) {
            pthread_mutex_lock(mutex)
            store(.callerWaiting, 1)
            while load(.done) != count { pthread_cond_wait(doneCond, mutex) }
            store(.callerWaiting, 0)
            pthread_mutex_unlock(mutex)
        }
        store(.open, 0)
        // A worker still inside has no index left to take; it leaves within a few instructions
        // unless it was preempted in between, in which case give it the core.
        while load(.active) != 0 {
            if !spin(until: { load(.active) == 0 }) { sched_yield() }
        }
        job.pointee = nil
    }

    /// Takes indices from its own share until none is left there, then from the other threads' shares
    /// (a thread that another process delays is relieved of its work), then adds how many it did to
    /// `done` at once (one update of the shared counter per thread and job, not per index).
    @inline(__always) private func work(_ body: (Int) -> Void, _ count: Int, thread: Int) {
        var did = 0
        let threads = participants
        for j in 0..<threads {
            let k = (thread + j) % threads
            let next = shares + k * Self.slotStride, end = shares[k * Self.slotStride + 1]
            while true {
                let i = hayai_atomic_fetch_add(next, 1)
                if i >= end { break }
                body(i)
                did += 1
            }
        }
        guard did > 0 else { return }
        if add(.done, did) + did == count && load(.callerWaiting) != 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_signal(doneCond)
            pthread_mutex_unlock(mutex)
        }
    }

    func workerLoop() {
        let thread = add(.workerIDs, 1) + 1
        var seen = 0
        while true {
            if !spin(until: { load(.generation) != seen }) {
                pthread_mutex_lock(mutex)
                add(.sleepers, 1)
                while load(.generation) == seen { pthread_cond_wait(workCond, mutex) }
                add(.sleepers, -1)
                pthread_mutex_unlock(mutex)
            }
            seen = load(.generation)
            if load(.stop) != 0 { return }
            add(.active, 1)
            if load(.open) != 0, let body = job.pointee { work(body, jobCount, thread: thread) }
            add(.active, -1)
        }
    }

    func shutdown() {
        store(.stop, 1)
        add(.generation, 1)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(workCond)
        pthread_mutex_unlock(mutex)
    }
}
