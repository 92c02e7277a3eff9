// Writing a trained byte-level BPE as a standard Hugging Face tokenizer folder: tokenizer.json
// (BPE model with vocab and merges, NFC normalizer, ByteLevel pre-tokenizer / post-processor /
// decoder, the special tokens as added tokens) and tokenizer_config.json (EOS/BOS/PAD names and a
// ChatML chat template). Hugging Face `tokenizers`, transformers and hayai's TokenizerLoader read it.
import Basics
import Foundation

public enum TokenizerJSONWriter {
    /// ChatML, using the trained <|im_start|>/<|im_end|> markers.
    public static let chatTemplate = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

    public static func write(_ bpe: TrainedBPE, to folder: String, modelMaxLength: Int = 2048) throws {
        let url = URL(fileURLWithPath: folder)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        try Data(tokenizerJSON(bpe).utf8).write(to: url.appendingPathComponent("tokenizer.json"), options: .atomic)
        try Data(tokenizerConfigJSON(bpe, modelMaxLength: modelMaxLength).utf8)
            .write(to: url.appendingPathComponent("tokenizer_config.json"), options: .atomic)
    }

    public static func tokenizerJSON(_ bpe: TrainedBPE) -> String {
        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n"
        s += bpe.specialTokens.enumerated().map { id, content in
            "    {\"id\": \(id), \"content\": \(quote(content)), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        }.joined(separator: ",\n")
        s += "\n  ],\n"
        s += "  \"normalizer\": {\"type\": \"NFC\"},\n"
        s += "  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
        s += "  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": true},\n"
        s += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
        s += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
        s += "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
        s += "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {\n"
        s += bpe.tokens.enumerated().map { id, t in "      \(quote(t)): \(id)" }.joined(separator: ",\n")
        s += "\n    },\n    \"merges\": [\n"
        // "left right" strings: read by every tokenizers version and by llama.cpp's converter
        // (byte-level tokens never hold a space, so the split is unambiguous).
        s += bpe.merges.map { "      \(quote($0.0 + " " + $0.1))" }.joined(separator: ",\n")
        s += "\n    ]\n  }\n}\n"
        return s
    }

    public static func tokenizerConfigJSON(_ bpe: TrainedBPE, modelMaxLength: Int) -> String {
        let eos = bpe.specialTokens.first ?? "<|endoftext|>"
        let pad = bpe.specialTokens.count > 1 ? bpe.specialTokens[1] : eos
        var s = "{\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n"
        s += "  \"bos_token\": \(quote(eos)),\n  \"eos_token\": \(quote(eos)),\n  \"unk_token\": null,\n  \"pad_token\": \(quote(pad)),\n"
        s += "  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n  \"clean_up_tokenization_spaces\": false,\n"
        s += "  \"model_max_length\": \(modelMaxLength),\n"
        s += "  \"added_tokens_decoder\": {\n"
        s += bpe.specialTokens.enumerated().map { id, content in
            "    \"\(id)\": {\"content\": \(quote(content)), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        }.joined(separator: ",\n")
        s += "\n  },\n"
        s += "  \"chat_template\": \(quote(chatTemplate))\n}\n"
        return s
    }

    /// A JSON string literal (JSONLiteral's one rule).
    static func quote(_ text: String) -> String { JSONLiteral.string(text) }
}
