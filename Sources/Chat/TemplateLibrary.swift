// The chat formats in prompts/: found through HAYAI_PROMPTS, or by walking up from the current
// directory and from the executable to a folder that holds prompts/, and read at run time.
import Foundation

public struct TemplateLibrary: Sendable {
    /// The folder the templates came from (nil: only the built-in plain format).
    public let folder: URL?
    public private(set) var templates: [String: ChatTemplate]
    /// Files that could not be read, one line each (they are skipped).
    public private(set) var problems: [String] = []

    public var names: [String] { templates.keys.sorted() }

    /// Locates prompts/ and loads every *.json in it.
    public static func standard() -> TemplateLibrary { load(folder: locate()) }

    /// HAYAI_PROMPTS, else the first prompts/ found above the current directory, else above the executable.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment,
                              currentDirectory: String = FileManager.default.currentDirectoryPath,
                              executable: String? = Bundle.main.executablePath) -> URL? {
        if let env = environment["HAYAI_PROMPTS"], !env.isEmpty { return URL(fileURLWithPath: env) }
        var starts = [URL(fileURLWithPath: currentDirectory)]
        if let executable { starts.append(URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()) }
        for start in starts {
            var dir = start.standardizedFileURL
            while true {
                let candidate = dir.appendingPathComponent("prompts")
                if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("chatml.json").path) { return candidate }
                if dir.path == "/" { break }
                dir.deleteLastPathComponent()
            }
        }
        return nil
    }

    public static func load(folder: URL?) -> TemplateLibrary {
        var library = TemplateLibrary(folder: folder, templates: ["plain": .plain])
        guard let folder else {
            library.problems.append("prompts/ not found (set HAYAI_PROMPTS): only the plain format is available")
            return library
        }
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
            library.problems.append("\(folder.path): cannot read the folder: only the plain format is available")
            return library
        }
        for file in files.sorted() where file.hasSuffix(".json") {
            let path = folder.appendingPathComponent(file).path
            do {
                let template = try read(path: path)
                library.templates[template.name] = template
            } catch {
                library.problems.append("\(error)")
            }
        }
        return library
    }

    public static func read(path: String) throws -> ChatTemplate {
        guard let data = FileManager.default.contents(atPath: path) else { throw ChatError.templateFile(path: path, reason: "cannot read the file") }
        do { return try JSONDecoder().decode(ChatTemplate.self, from: data) } catch {
            throw ChatError.templateFile(path: path, reason: "not a chat template (\(SavedChat.describe(error)))")
        }
    }

    public func template(named name: String) throws -> ChatTemplate {
        guard let t = templates[name] else { throw ChatError.unknownTemplate(name, known: names) }
        return t
    }
}
