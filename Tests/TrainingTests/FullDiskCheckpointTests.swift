// A checkpoint's tokenizer files copied onto a full disk (issue 15: SFT said "cannot copy …/tokenizer.json" without
// saying why): the error names the file it could not copy and says the disk is full.
import XCTest
import Foundation
@testable import Training
import TestSupport

final class FullDiskCheckpointTests: XCTestCase {
    func testCopyingTheTokenizerOntoAFullDiskSaysNoSpaceLeft() throws {
        let disk = try TinyDisk.mount(kilobytes: 64, for: self)   // tokenizer.json is 129 KiB
        let tiny = Fixtures.fixture("stablelm-tiny").path
        let writer = CheckpointWriter(parameters: try BaseCheckpoint(path: tiny).parameters(), tokenizerFolder: tiny)
        XCTAssertThrowsError(try writer.writeExtraAndTokenizerFiles(into: disk, path: "out/checkpoint")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("cannot copy \(tiny)/tokenizer.json"), message)
            XCTAssertTrue(message.contains("no space left"), message)
            XCTAssertFalse(message.contains("\n"), message)
        }
    }
}
