// Shared checks for the Checkpoints tests: errors must be CheckpointErrors whose message is one line
// naming the file and the problem.
import Foundation
import XCTest
@testable import Checkpoints
import TestSupport

/// Runs `body`, which must throw a CheckpointError naming `path` whose one-line message contains `problem`.
@discardableResult
func assertCheckpointError(_ path: String, _ problem: String, file: StaticString = #filePath, line: UInt = #line,
                           _ body: () throws -> Void) -> CheckpointError? {
    do {
        try body()
        XCTFail("expected a CheckpointError mentioning '\(problem)', nothing was thrown", file: file, line: line)
        return nil
    } catch let error as CheckpointError {
        let message = error.description
        if ProcessInfo.processInfo.environment["HAYAI_PRINT_ERRORS"] != nil { print("error message: \(message)") }
        XCTAssertFalse(message.contains("\n"), "message is not one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.hasPrefix(path + ": "), "message does not start with the path \(path): \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(problem), "message lacks '\(problem)': \(message)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected a CheckpointError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
}

/// A temporary folder removed when the test ends.
func temporaryFolder(_ test: XCTestCase) -> URL {
    let url = Fixtures.temporaryDirectory("hayai-checkpoints")
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// Writes `bytes` to `name` inside `folder` and returns the path.
func writeFile(_ folder: URL, _ name: String, _ bytes: [UInt8]) throws -> String {
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

func readBytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

extension Array where Element == UInt8 {
    mutating func putLE<T: FixedWidthInteger>(_ v: T) { Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) } }
    mutating func putGGUFString(_ s: String) { putLE(UInt64(s.utf8.count)); append(contentsOf: s.utf8) }
}

/// Deterministic pseudo-random Floats in [-1, 1) (SplitMix64), so failures reproduce.
struct SeededFloats {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 23) - 1
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}
