// A full disk for tests: a tmpfs of a few kilobytes mounted on a fresh folder (unmounted when the test ends). Where
// mounting is not permitted (not root, no CAP_SYS_ADMIN) the test is skipped with a message saying so.
import XCTest
import Foundation

public enum TinyDisk {
    /// A folder on a tmpfs of `kilobytes` KiB, for the duration of `testCase`.
    public static func mount(kilobytes: Int, for testCase: XCTestCase) throws -> URL {
        let dir = Fixtures.temporaryDirectory("hayai-tinydisk")
        guard run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", dir.path]) == 0 else {
            try? FileManager.default.removeItem(at: dir)
            throw XCTSkip("mounting a tmpfs is not permitted here (needs root); the full-disk case is not exercised")
        }
        testCase.addTeardownBlock {
            _ = run("/bin/umount", [dir.path])
            try? FileManager.default.removeItem(at: dir)
        }
        return dir
    }

    /// Fills the rest of the disk at `dir` with one file, so the next write finds no space.
    public static func fill(_ dir: URL) {
        guard let handle = FileHandle(forWritingAtPath: { FileManager.default.createFile(atPath: dir.appendingPathComponent("filler").path, contents: nil); return dir.appendingPathComponent("filler").path }()) else { return }
        defer { try? handle.close() }
        let block = Data(count: 4096)
        while (try? handle.write(contentsOf: block)) != nil {}
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
