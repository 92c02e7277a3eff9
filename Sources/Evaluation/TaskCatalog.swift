// Finding tasks by name: `jcommonsenseqa-0.2` means evalsets/jcommonsenseqa-0.2.yaml in the first
// folder that has it (HAYAI_EVALSETS, then ./evalsets), or the file whose `task:` is that name, or a
// path to a YAML file.
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
        // A task's own name (`task: xwinograd_en` in xwinograd-en.yaml) names it too, as in lm-eval.
        // Several files may declare one task in different prompt versions: then the file name must say which.
        for dir in searchPaths {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().filter { $0.hasSuffix(".yaml") }
            let matches = files.filter { declaredName(ofTaskFile: (dir as NSString).appendingPathComponent($0)) == name }
            if matches.count == 1 { return (dir as NSString).appendingPathComponent(matches[0]) }
            if matches.count > 1 {
                throw EvaluationError.invalidTask(file: name, reason: "several task files declare this task: "
                    + matches.map { String($0.dropLast(5)) }.joined(separator: ", ") + "; name one of them")
            }
        }
        let known = available(searchPaths: searchPaths)
        throw EvaluationError.invalidTask(file: name, reason: "no task of that name in \(searchPaths.joined(separator: ", "))"
            + (known.isEmpty ? "" : " (known: \(known.joined(separator: ", ")))"))
    }

    /// The top-level `task:` value of a task file (read without parsing the rest).
    static func declaredName(ofTaskFile path: String, key: String = "task:") -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where line.hasPrefix(key) {
            var value = line.dropFirst(key.count).trimmingCharacters(in: .whitespaces)
            if let hash = value.range(of: " #") { value = String(value[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
            return value.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        return nil
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

    /// The group file for `name`: groups/NAME.yaml in a search path, or the one whose `group:` is that name;
    /// nil when there is none.
    public static func groupPath(for name: String, searchPaths: [String] = searchPaths()) -> String? {
        guard !name.contains("/"), !name.hasSuffix(".yaml") else { return nil }
        for dir in searchPaths {
            let candidate = ((dir as NSString).appendingPathComponent("groups") as NSString).appendingPathComponent(name + ".yaml")
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        for dir in searchPaths {
            let groups = (dir as NSString).appendingPathComponent("groups")
            for f in ((try? FileManager.default.contentsOfDirectory(atPath: groups)) ?? []).sorted() where f.hasSuffix(".yaml") {
                let path = (groups as NSString).appendingPathComponent(f)
                if declaredName(ofTaskFile: path, key: "group:") == name { return path }
            }
        }
        return nil
    }

    /// Loads `name` (see `path(for:)`).
    public static func load(_ name: String, searchPaths: [String] = searchPaths(),
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> EvalTask {
        try EvalTask.load(path: try path(for: name, searchPaths: searchPaths), environment: environment)
    }
}
