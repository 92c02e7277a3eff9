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

/// Runs the built `hayai` with `arguments` and checks the bad-input contract: exit status 1 and one line
/// on stderr containing every `fragment`.
public func assertHayaiFailsWithOneLine(_ arguments: [String], _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try HayaiBinary.run(arguments)
    XCTAssertEqual(r.status, 1, "exit status for \(arguments): stderr \(r.stderr)", file: file, line: line)
    XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line of error, got: \(r.stderr)", file: file, line: line)
    for f in fragments { XCTAssertTrue(r.stderr.contains(f), "'\(f)' missing from: \(r.stderr)", file: file, line: line) }
}
