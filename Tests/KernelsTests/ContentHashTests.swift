import Foundation
import XCTest
@testable import Kernels
import TestSupport

final class ContentHashTests: XCTestCase {
    private func temporaryFile(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "hayai-hash-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// A file read in chunks hashes as its bytes do in one call, whatever the chunk size and wherever
    /// the 32-byte stripes and the tail fall, so run records written before stay comparable.
    func testAFileReadInChunksHashesAsItsBytes() throws {
        var rng = SystemRandomNumberGenerator()
        for size in [0, 1, 7, 31, 32, 33, 63, 64, 65, 95, 96, 97, 1000, 4096 + 17] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let path = try temporaryFile(bytes)
            for seed: UInt64 in [0, 0x1234_5678_9abc] {
                let whole = bytes.withUnsafeBytes { ContentHash.hash64($0, seed: seed) }
                for chunk in [32, 64, 96, 8 << 20] {
                    XCTAssertEqual(try ContentHash.hash64(file: path, seed: seed, chunkBytes: chunk), whole, "size \(size), chunk \(chunk)")
                }
            }
        }
    }

    func testAMissingFileOrAFolderIsAnError() throws {
        XCTAssertThrowsError(try ContentHash.hash64(file: "/nonexistent/model.gguf")) { XCTAssertTrue("\($0)".contains("/nonexistent/model.gguf")) }
        XCTAssertThrowsError(try ContentHash.hash64(file: NSTemporaryDirectory())) { XCTAssertTrue("\($0)".contains("not a regular file")) }
    }

    /// Hashing a base model before training must not add the file to the resident set: a 1.6B base
    /// hashed through a second whole-file map peaked 0.9 GB over the memory `train` estimated.
    func testHashingAFileDoesNotHoldItInMemory() throws {
        let size = 96 << 20
        let path = NSTemporaryDirectory() + "hayai-hash-big-\(UUID().uuidString)"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let block = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for _ in 0..<(size >> 20) { try handle.write(contentsOf: block) }
        try handle.close()
        guard let increase = try ResidentPeak.increase(during: { _ = try ContentHash.hash64(file: path) }) else {
            throw XCTSkip("no /proc/self/clear_refs")
        }
        XCTAssertLessThan(increase, 32 << 20, "hashing a \(size >> 20) MiB file raised the peak resident set by \(increase >> 20) MiB")
    }
}
