// /save on a full disk (issue 15): the error says "no space left", the previous save stays whole, and no temporary
// file is left behind. The full disk is a 32 KiB tmpfs; where mounting is not permitted the test is skipped.
import XCTest
import Foundation
import Chat
import TestSupport

final class SaveOnFullDiskTests: XCTestCase {
    func mountTinyDisk() throws -> URL {
        let dir = Fixtures.temporaryDirectory("hayai-tinydisk")
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=32k", "tmpfs", dir.path]
        mount.standardError = FileHandle.nullDevice
        try mount.run()
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: dir)
            throw XCTSkip("mounting a tmpfs is not permitted here (needs root); the full-disk save is not exercised")
        }
        addTeardownBlock {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [dir.path]
            try? umount.run()
            umount.waitUntilExit()
            try? FileManager.default.removeItem(at: dir)
        }
        return dir
    }

    func chat(_ text: String) -> SavedChat {
        SavedChat(model: "m", template: "chatml", conversation: Conversation(turns: [Turn(user: text, assistant: "ok")]), settings: ChatSettings())
    }

    func testASaveOnAFullDiskSaysNoSpaceLeftKeepsTheOldFileAndLeavesNoTemporaryFile() throws {
        let disk = try mountTinyDisk()
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
