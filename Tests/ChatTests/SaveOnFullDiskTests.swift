// /save on a full disk (issue 15): the error says "no space left", the previous save stays whole, and no temporary
// file is left behind. The full disk is a 32 KiB tmpfs; where mounting is not permitted the test is skipped.
import XCTest
import Foundation
import Chat
import TestSupport

final class SaveOnFullDiskTests: XCTestCase {
    func chat(_ text: String) -> SavedChat {
        SavedChat(model: "m", template: "chatml", conversation: Conversation(turns: [Turn(user: text, assistant: "ok")]), settings: ChatSettings())
    }

    func testASaveOnAFullDiskSaysNoSpaceLeftKeepsTheOldFileAndLeavesNoTemporaryFile() throws {
        let disk = try TinyDisk.mount(kilobytes: 32, for: self)
        let url = disk.appendingPathComponent("talk.json")
        try chat("short").write(to: url)
        XCTAssertThrowsError(try chat(String(repeating: "long message ", count: 10_000)).write(to: url)) { error in
            XCTAssertTrue("\(error)".contains("no space left"), "\(error)")
            XCTAssertTrue("\(error)".contains(url.path), "\(error)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), ["talk.json"], "no temporary file left")
        XCTAssertEqual(try SavedChat.read(from: url).conversation.turns[0].user, "short")
    }
}
