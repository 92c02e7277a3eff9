// Finding tasks by name: `jcommonsenseqa-0.2` means evalsets/jcommonsenseqa-0.2.yaml in the first
// folder that has it (HAYAI_EVALSETS, then ./evalsets), or a path to a YAML file.
import Foundation

public enum TaskCatalog {
    /// Folders searched for task files, in order.
    public static func searchPaths(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String] {
        var paths: [String] = []
        if let env = environment["HAYAI_EVALSETS"], !env.isEmpty { paths += env.split(separator: ":").map(String.init) }
        paths.append(FileManager.default.currentDirectoryPath + "/evalsets")
        return paths
    }

    /// The YAML file for `name` (a task file name without `.yaml`, or a path).
    public static func path(for name: String, searchPaths: [String] = searchPaths()) throws -> String {
        if name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.contains("/") {
            guard FileManager.default.fileExists(atPath: name) else {
                throw EvaluationError.invalidTask(file: name, reason: "no such task file")
            }
            return name
        }
        for dir in searchPaths {
            let candidate = (dir as NSString).appendingPathComponent(name + ".yaml")
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        let known = available(searchPaths: searchPaths)
        throw EvaluationError.invalidTask(file: name, reason: "no task of that name in \(searchPaths.joined(separator: ", "))"
            + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))"))
    }

    /// Task names found in the search paths, sorted.
    public static func available(searchPaths: [String] = searchPaths()) -> [String] {
        var names = Set<String>()
        for dir in searchPaths {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where f.hasSuffix(".yaml") {
                names.insert(String(f.dropLast(5)))
            }
        }
        return names.sorted()
    }

    /// Loads `name` (see `path(for:)`).
    public static func load(_ name: String, searchPaths: [String] = searchPaths(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> EvalTask {
        try EvalTask.load(path: try path(for: name, searchPaths: searchPaths), environment: environment)
    }
}
