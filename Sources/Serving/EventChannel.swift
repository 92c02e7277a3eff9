// A streamed answer's way from the model thread to the socket: the generator hands over each
// server-sent event and waits while a few are still unsent, so a client that reads slowly slows its
// own generation instead of filling memory, and a client that disconnects stops it within a token or
// two (the socket write fails, FlyingFox drops the body, and the channel is cancelled).
import FlyingFox
import FlyingSocks
import Foundation
import Kernels

final class EventChannel: @unchecked Sendable {
    private let condition = NSCondition()
    private var events: [Data] = []
    private var finished = false
    private var cancelled = false
    /// Waiters on the consumer side (at most one: FlyingFox reads the body in one task).
    private var waiter: CheckedContinuation<Data?, Never>?
    /// Events the producer may be ahead of the socket.
    let capacity: Int

    let stallSeconds: TimeInterval

    init(capacity: Int = 4, stallSeconds: TimeInterval = 60) { self.capacity = capacity; self.stallSeconds = stallSeconds }

    var isCancelled: Bool { condition.lock(); defer { condition.unlock() }; return cancelled }

    /// Hands over one event; blocks while `capacity` are unsent. False once the client is gone, when
    /// the server is stopping (Ctrl-C), or when the client has taken nothing for `stallSeconds`: a
    /// client that stops reading without closing does not hold the model for everyone else.
    func send(_ event: Data) -> Bool {
        condition.lock()
        let giveUp = Date().addingTimeInterval(stallSeconds)
        while events.count >= capacity && !cancelled {
            if Interrupt.isRequested || Date() >= giveUp { cancelled = true; break }
            _ = condition.wait(until: Date().addingTimeInterval(0.1))
        }
        guard !cancelled else { condition.unlock(); return false }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: event)
            return true
        }
        events.append(event)
        condition.unlock()
        return true
    }

    /// No more events (the body ends after the ones queued).
    func finish() {
        condition.lock()
        finished = true
        let waiter = self.waiter
        self.waiter = nil
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// The client is gone: the producer's next `send` returns false.
    func cancel() {
        condition.lock()
        cancelled = true
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    /// The next event, or nil at the end.
    func next() async -> Data? {
        await withCheckedContinuation { (c: CheckedContinuation<Data?, Never>) in
            condition.lock()
            if !events.isEmpty {
                let event = events.removeFirst()
                condition.broadcast()
                condition.unlock()
                c.resume(returning: event)
            } else if finished || cancelled {
                condition.unlock()
                c.resume(returning: nil)
            } else {
                waiter = c
                condition.unlock()
            }
        }
    }

    /// The response body: the events as they come. When FlyingFox drops it (the answer is sent, or
    /// writing to the socket failed) the channel is cancelled.
    var body: HTTPBodySequence { HTTPBodySequence(from: Bytes(channel: self)) }

    struct Bytes: AsyncBufferedSequence, Sendable {
        typealias Element = UInt8
        let channel: EventChannel

        func makeAsyncIterator() -> Iterator { Iterator(channel: channel) }

        struct Iterator: AsyncBufferedIteratorProtocol {
            let channel: EventChannel
            let guardian: CancelOnRelease
            var leftover: [UInt8] = []

            init(channel: EventChannel) {
                self.channel = channel
                self.guardian = CancelOnRelease(channel)
            }

            mutating func next() async throws -> UInt8? { try await nextBuffer(suggested: 1)?.first }

            mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
                while leftover.isEmpty {
                    guard let event = await channel.next() else { return nil }
                    leftover = Array(event)
                }
                let n = Swift.max(1, Swift.min(count, leftover.count))
                let out = Array(leftover[..<n])
                leftover.removeFirst(n)
                return out
            }
        }
    }

    /// Cancels the channel when the last copy of the body's iterator goes away.
    final class CancelOnRelease: @unchecked Sendable {
        let channel: EventChannel
        init(_ channel: EventChannel) { self.channel = channel }
        deinit { channel.cancel() }
    }
}
