// gguf-py (llama.cpp's Python GGUF package, installed by `scripts/setup --tests`) as the reference for
// block formats: its numpy dequantizers are ports of ggml's, so a type's dequantization here can be
// checked against ggml's without a llama.cpp build.
import Foundation
import XCTest

public enum GGUFPy {
    /// The floats gguf-py's `gguf.quants.dequantize` gives for `bytes`, whole blocks of the ggml type
    /// `typeName` ("Q3_K", "IQ4_XS", …, gguf's GGMLQuantizationType names).
    public static func dequantize(_ typeName: String, _ bytes: [UInt8]) throws -> [Float] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hayai-ggufpy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("blocks.bin"), output = dir.appendingPathComponent("floats.bin")
        try Data(bytes).write(to: input)
        let script = """
        import sys, numpy as np
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize
        data = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(1, -1)
        dequantize(data, GGMLQuantizationType[sys.argv[1]]).astype(np.float32).tofile(sys.argv[3])
        """
        let r: CommandResult
        do {
            r = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, typeName, input.path, output.path])
        } catch {
            throw XCTSkip("python3 is not available")
        }
        guard r.status == 0 else {
            XCTFail("gguf-py could not dequantize \(typeName) (run scripts/setup --tests): \(r.stderr)")
            return []
        }
        let data = try Data(contentsOf: output)
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
