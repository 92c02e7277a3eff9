// Assertions the test targets share.
import XCTest

/// `body` throws an error of type `E` whose message is one line naming `path` and saying `fragment`.
public func assertOneLineError<E: Error, T>(_ path: String, _ fragment: String, of type: E.Type, _ body: () throws -> T,
                                            file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertTrue(error is E, "\(Swift.type(of: error)): \(error)", file: file, line: line)
        let message = "\(error)"
        XCTAssertTrue(message.contains(path), "message does not name \(path): \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(fragment), "message does not say '\(fragment)': \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "message is not one line: \(message)", file: file, line: line)
    }
}
