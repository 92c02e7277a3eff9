// A prompt checked against the context before it costs anything: every token stands for at most the vocabulary's
// longest token in bytes, so a text of more than context × that many bytes cannot fit, and is refused without
// being read further or tokenized (a 50 MB prompt file is refused after reading ~tens of kilobytes). What is
// under the bound is tokenized and checked exactly.
import Foundation
import Tokenizers

public enum PromptText {
    /// The most bytes a prompt of `contextLength` tokens can hold with `tokenizer`.
    public static func byteBound(contextLength: Int, tokenizer: Tokenizer) -> Int {
        // Special tokens written inline ("<|im_end|>") are one token each: their text counts too.
        var longest = 1
        for id in 0..<tokenizer.vocabularySize { longest = max(longest, tokenizer.tokenBytes(id).count) }
        return contextLength.multipliedReportingOverflow(by: longest).overflow ? Int.max : contextLength * longest
    }

    /// The bytes of the prompt file `path`: at most `maxBytes`, else `InferenceError.promptTooLong` after reading
    /// `maxBytes + 1` of them.
    public static func read(file path: String, maxBytes: Int) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InferenceError.notAModel(path: path, reason: FileManager.default.fileExists(atPath: path) ? "cannot read the file" : "no such file")
        }
        defer { try? handle.close() }
        var data = Data()
        do {
            while data.count <= maxBytes, let chunk = try handle.read(upToCount: min(1 << 20, maxBytes + 1 - data.count)), !chunk.isEmpty {
                data.append(chunk)
            }
        } catch {
            throw InferenceError.notAModel(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        guard data.count <= maxBytes else {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            throw InferenceError.promptTooLong(source: path, bytes: size, byteBound: maxBytes)
        }
        return data
    }

    /// The prompt's token ids (BOS and what else the tokenizer adds), refusing a text that cannot fit
    /// `contextLength` before tokenizing it, and one that does not after. `source` names it in errors.
    public static func encode(_ text: String, source: String, tokenizer: Tokenizer, contextLength: Int) throws -> [Int] {
        let bound = byteBound(contextLength: contextLength, tokenizer: tokenizer)
        guard text.utf8.count <= bound else { throw InferenceError.promptTooLong(source: source, bytes: text.utf8.count, byteBound: bound) }
        let ids = tokenizer.encode(text, addSpecialTokens: true)
        guard ids.count <= contextLength else { throw InferenceError.contextOverflow(tokens: ids.count, context: contextLength) }
        return ids
    }
}
