// The thread pool runs every index exactly once, survives heavy repeated use without hanging,
// runs inline for one thread and for nested calls, shuts down cleanly, and starts each thread on
// its own contiguous share of a job.
import XCTest
import Foundation
import CKernels
@testable import Kernels

final class ThreadPoolTests: XCTestCase {
    /// Counts calls per index with one slot each (no two calls share a slot, so no races).
    private func countCalls(_ pool: ThreadPool, count: Int) -> [Int] {
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
        hits.initialize(repeating: 0, count: max(count, 1))
        defer { hits.deallocate() }
        pool.parallelFor(count: count) { i in hits[i] += 1 }
        return Array(UnsafeBufferPointer(start: hits, count: count))
    }

    func testEveryIndexRunsExactlyOnce() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 2, 7, 1000] {
                XCTAssertEqual(countCalls(pool, count: count), [Int](repeating: 1, count: count), "threads \(threads) count \(count)")
            }
        }
    }

    func testRepeatedUseDoesNotHangOrLoseWork() {
        // Many short jobs back to back, as a decoder issues per token, with both spinning and
        // blocking workers (spin 0 forces the condition-variable path every time).
        for spin in [0, 50] {
            let pool = ThreadPool(threads: 2, spinMicroseconds: spin)
            var total = 0
            for round in 0..<3000 {
                let n = 1 + round % 13
                total += countCalls(pool, count: n).reduce(0, +) - n
            }
            XCTAssertEqual(total, 0, "spin \(spin)")
        }
    }

    func testWorkIsSharedBetweenThreads() {
        let pool = ThreadPool(threads: 2)
        let ids = UnsafeMutablePointer<pthread_t>.allocate(capacity: 64)
        defer { ids.deallocate() }
        var sawTwo = false
        for _ in 0..<50 where !sawTwo {
            pool.parallelFor(count: 64) { i in
                ids[i] = pthread_self()
                var x = 0.0
                for k in 0..<20_000 { x += Double(k) }  // long enough for the worker to join in
                if x < 0 { print(x) }
            }
            sawTwo = (1..<64).contains { pthread_equal(ids[$0], ids[0]) == 0 }
        }
        XCTAssertTrue(sawTwo, "a worker thread should take some of the indices")
    }

    func testNestedCallsRunInline() {
        let pool = ThreadPool(threads: 2)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 16)
        hits.initialize(repeating: 0, count: 16)
        defer { hits.deallocate() }
        pool.parallelFor(count: 4) { i in
            pool.parallelFor(count: 4) { j in hits[4 * i + j] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: 16)), [Int](repeating: 1, count: 16))
    }

    func testPoolsCanBeCreatedAndDroppedRepeatedly() {
        for _ in 0..<50 {
            let pool = ThreadPool(threads: 2, spinMicroseconds: 10)
            XCTAssertEqual(countCalls(pool, count: 5), [1, 1, 1, 1, 1])
        }
    }

    func testSumsMatchSerialResult() {
        // Chunked reduction into per-chunk slots, the pattern matVec uses.
        let n = 100_003, chunk = 4096
        let x = (0..<n).map { Float($0 % 17) - 8 }
        let chunks = (n + chunk - 1) / chunk
        var partial = [Float](repeating: 0, count: chunks)
        let pool = ThreadPool(threads: 2)
        x.withUnsafeBufferPointer { xs in
            partial.withUnsafeMutableBufferPointer { out in
                pool.parallelFor(count: chunks) { c in
                    var s: Float = 0
                    for i in c * chunk ..< min(n, (c + 1) * chunk) { s += xs[i] }
                    out[c] = s
                }
            }
        }
        XCTAssertEqual(partial.reduce(0, +), x.reduce(0, +))
    }

    func testEachThreadStartsOnItsOwnContiguousShare() {
        // The caller holds its first index until the worker has run one: the worker's first index is then
        // the start of its own share (count / 2 of two threads), not the caller's next one.
        let pool = ThreadPool(threads: 2)
        let count = 64
        let firstOfWorker = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        firstOfWorker.initialize(to: -1)
        defer { firstOfWorker.deallocate() }
        let caller = pthread_self()
        var callerRanZero = false
        pool.parallelFor(count: count) { i in
            if pthread_equal(pthread_self(), caller) != 0 {
                guard i == 0 else { return }
                callerRanZero = true
                let start = Date()
                while hayai_atomic_load(firstOfWorker) < 0 && Date().timeIntervalSince(start) < 10 { hayai_cpu_relax() }
            } else if hayai_atomic_load(firstOfWorker) < 0 {
                hayai_atomic_store(firstOfWorker, i)
            }
        }
        XCTAssertTrue(callerRanZero)
        XCTAssertEqual(firstOfWorker.pointee, count / 2)
    }
}

/// Thread counts are bounded and a pthread_create failure leaves a working, smaller pool that says why.
final class ThreadPoolStartTests: XCTestCase {
    func testAPoolNeverStartsMoreThanTheLimit() {
        XCTAssertEqual(ThreadPool.threadLimit, 4 * ThreadPool.availableCores)
        let pool = ThreadPool(threads: 100_000, spinMicroseconds: 0)
        XCTAssertEqual(pool.threads, ThreadPool.threadLimit)
        XCTAssertNil(pool.startFailure)
    }

    func testAFailedThreadStartIsReportedAndThePoolStillWorks() {
        var started = 0
        let pool = ThreadPool(threads: 4, spinMicroseconds: 0) { tid, context, start in
            guard started < 1 else { return EAGAIN }
            started += 1
            return pthread_create(tid, nil, start, context)
        }
        XCTAssertEqual(pool.threads, 2)
        XCTAssertEqual(pool.startFailure, "cannot start thread 3 of 4 (pthread_create: \(String(cString: strerror(EAGAIN)))); running with 2")
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        hits.initialize(repeating: 0, count: 1000)
        defer { hits.deallocate() }
        pool.parallelFor(count: 1000) { hits[$0] += 1 }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: hits, count: 1000)), [Int](repeating: 1, count: 1000))
    }
}
