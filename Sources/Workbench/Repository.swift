// Folders of the repository (evalsets, prompts, data) found from where hayai runs: the current
// directory and its parents, then beside the executable and its parents (a build inside the clone).
import Foundation

public enum Repository {
    public static func folder(_ name: String) -> String? {
        var starts = [FileManager.default.currentDirectoryPath]
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        starts.append(executable.deletingLastPathComponent().path)
        for start in starts {
            var dir = URL(fileURLWithPath: start)
            while true {
                let candidate = dir.appendingPathComponent(name)
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), isDir.boolValue { return candidate.path }
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        return nil
    }
}
