// What this hayai is: its version, the git revision of the checkout the binary was built in, and
// the build settings that change numbers (configuration, the CPU path the kernels take). `hayai
// --version` prints it and every run's config records it, with the model's content hash.
import Foundation
import Kernels

public struct BuildInfo: Codable, Sendable, Equatable {
    public static let version = "0.1.0"

    public var version: String
    /// The commit of the repository the executable lives in (nil when it was copied out of one);
    /// "+dirty" is not tracked: uncommitted edits are not visible to a build either way.
    public var revision: String?
    public var configuration: String
    public var kernels: String

    public static let current = BuildInfo(
        version: version, revision: GitRevision.find(from: CommandLine.arguments.first.map { URL(fileURLWithPath: $0) }),
        configuration: configurationName, kernels: QuantizedMatrix.interleavingAvailable ? "avx512-vnni" : "avx2")

    #if DEBUG
    static let configurationName = "debug"
    #else
    static let configurationName = "release"
    #endif

    /// One line: `hayai 0.1.0 (git 923e540, release, kernels avx512-vnni)`.
    public var line: String {
        "hayai \(version) (git \(revision.map { String($0.prefix(12)) } ?? "unknown"), \(configuration), kernels \(kernels))"
    }
}

/// Reads the commit a checkout is at from its .git (a folder, or a worktree's `gitdir:` file),
/// without running git.
enum GitRevision {
    static func find(from executable: URL?) -> String? {
        guard var dir = executable?.resolvingSymlinksInPath().deletingLastPathComponent() else { return nil }
        while true {
            let git = dir.appendingPathComponent(".git")
            if let rev = revision(git: git) { return rev }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { return nil }
            dir = parent
        }
    }

    static func revision(git: URL) -> String? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: git.path, isDirectory: &isDir) else { return nil }
        var gitDir = git
        if !isDir.boolValue {
            guard let text = try? String(contentsOf: git, encoding: .utf8), text.hasPrefix("gitdir:") else { return nil }
            let path = text.dropFirst("gitdir:".count).trimmingCharacters(in: .whitespacesAndNewlines)
            gitDir = URL(fileURLWithPath: path, relativeTo: git.deletingLastPathComponent()).standardizedFileURL
        }
        guard let head = try? String(contentsOf: gitDir.appendingPathComponent("HEAD"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines) else { return nil }
        guard head.hasPrefix("ref:") else { return head }
        let ref = head.dropFirst("ref:".count).trimmingCharacters(in: .whitespaces)
        // A worktree keeps its HEAD; branches live in the common folder.
        var common = gitDir
        if let c = try? String(contentsOf: gitDir.appendingPathComponent("commondir"), encoding: .utf8) {
            common = URL(fileURLWithPath: c.trimmingCharacters(in: .whitespacesAndNewlines), relativeTo: gitDir).standardizedFileURL
        }
        for base in [gitDir, common] {
            if let rev = try? String(contentsOf: base.appendingPathComponent(ref), encoding: .utf8) {
                return rev.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let packed = try? String(contentsOf: base.appendingPathComponent("packed-refs"), encoding: .utf8),
               let line = packed.split(separator: "\n").first(where: { $0.hasSuffix(" " + ref) }) {
                return String(line.prefix { $0 != " " })
            }
        }
        return nil
    }
}
