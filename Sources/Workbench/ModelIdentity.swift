// What a model is, by content: a hash of the files that decide its outputs (weights, config and
// tokenizer), so a resumed eval or a comparison can tell "the same model" from "a file at the same
// path". Paths move; contents do not.
import Foundation
import Checkpoints
import Kernels

public enum ModelIdentity {
    /// Files of a Hugging Face folder that decide what the model computes (those present are hashed).
    static let folderFiles = ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json",
                              "adapter_config.json"]

    /// A hex content hash of the model at `path` (a Hugging Face folder or a .gguf file).
    public static func contentHash(path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw WorkbenchError.notFound(path: path, what: "model")
        }
        var files: [String] = []
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            files = (folderFiles + names.filter { $0.hasSuffix(".safetensors") }.sorted())
                .filter { names.contains($0) }
                .map { (path as NSString).appendingPathComponent($0) }
        } else {
            files = [path]
        }
        var hash: UInt64 = 0
        for file in files {
            do { hash = try ContentHash.hash64(file: file, seed: hash) } catch let e as ContentHashError {
                throw WorkbenchError.invalid(e.description)
            }
            // The file's name takes part, so contents moved between files do not collide.
            let name = Array((file as NSString).lastPathComponent.utf8)
            hash = name.withUnsafeBytes { ContentHash.hash64($0, seed: hash) }
        }
        return String(format: "%016lx", hash)
    }
}
