// Writing a folder so that it appears whole or not at all: its files go into a hidden staging folder
// beside the destination, which is renamed into place at the end (a previous folder steps aside first
// and is removed after). An interrupted or failed write leaves the previous folder whole.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum StagedFolder {
    /// Runs `fill` on a fresh staging folder, then swaps it in as `path`.
    public static func write(to path: String, _ fill: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let destination = URL(fileURLWithPath: path).standardizedFileURL
        let parent = destination.deletingLastPathComponent()
        guard fm.fileExists(atPath: parent.path) else {
            throw CheckpointError.cannotWrite(path: path, reason: "folder \(parent.path) does not exist")
        }
        let staging = parent.appendingPathComponent(".\(destination.lastPathComponent).tmp-\(UUID().uuidString.prefix(8))")
        do { try fm.createDirectory(at: staging, withIntermediateDirectories: false) } catch {
            throw CheckpointError.cannotWrite(path: path, reason: "cannot create \(staging.path)")
        }
        var committed = false
        defer { if !committed { try? fm.removeItem(at: staging) } }
        try fill(staging)

        // Swap in: the old folder steps aside, the new one takes its name, the old one goes.
        var aside: URL?
        if fm.fileExists(atPath: destination.path) {
            let old = parent.appendingPathComponent(".\(destination.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
            guard rename(destination.path, old.path) == 0 else {
                throw CheckpointError.cannotWrite(path: path, reason: "cannot move the previous folder aside: \(String(cString: strerror(errno)))")
            }
            aside = old
        }
        guard rename(staging.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let aside { _ = rename(aside.path, destination.path) }
            throw CheckpointError.cannotWrite(path: path, reason: "rename: \(reason)")
        }
        committed = true
        if let aside { try? fm.removeItem(at: aside) }
    }
}
